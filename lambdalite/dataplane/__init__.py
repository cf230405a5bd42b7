"""dataplane layer (see ../shared/DESIGN.md)."""
