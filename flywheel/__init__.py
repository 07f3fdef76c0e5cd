"""Flywheel: close the loop between a model in production and the data it learns from."""

__version__ = "0.1.0"
