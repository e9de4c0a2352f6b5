"""The compute commands."""
