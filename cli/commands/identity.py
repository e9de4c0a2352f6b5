"""The identity commands."""
