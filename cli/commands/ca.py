"""The ca commands."""
