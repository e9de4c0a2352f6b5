"""The compute tables that the API, the scheduler and the conductor share, and every write to
them: models, server states, lifecycle transitions (each with its revision), instance actions,
allocations and their hand-written statements. Imports none of its users (README.md)."""
