"""The package version, importable from anywhere without importing the package's public surface."""

__version__ = "0.1.0"
