"""observe layer (see ../shared/DESIGN.md)."""
