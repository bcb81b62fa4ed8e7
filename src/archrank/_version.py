"""The archrank version (single source, read by the package and the store)."""

__version__ = "0.1.0"
