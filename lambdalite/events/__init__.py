"""events layer (see ../shared/DESIGN.md)."""
