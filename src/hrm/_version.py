"""The library version (its own module so that any layer can read it without importing the ``hrm`` façade)."""

__version__ = "0.1.0"
