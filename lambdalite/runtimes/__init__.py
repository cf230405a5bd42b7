"""runtimes layer (see ../shared/DESIGN.md)."""
