"""Compute (Nova's role): api, conductor, scheduler and records, each importing only the rooms
below it; service.py wires them (docs/dev/architecture.md)."""
