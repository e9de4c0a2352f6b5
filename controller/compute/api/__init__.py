"""The compute API: domain logic for flavors, servers, key pairs, groups and quotas, and the
thin servicer that exposes it as stratus.compute.v1.ComputeService."""
