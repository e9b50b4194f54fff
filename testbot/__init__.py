"""testbot: writes pytest tests for Python functions, keeps only those that pass and add coverage."""

__version__ = "0.1.0"
