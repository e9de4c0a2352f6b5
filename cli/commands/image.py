"""The image commands."""
