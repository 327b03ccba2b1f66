"""sightlint: find what would hang, leak, race or hide errors in async Python services."""

__version__ = "0.1.0"
