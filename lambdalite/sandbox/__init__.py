"""sandbox layer (see ../shared/DESIGN.md)."""
