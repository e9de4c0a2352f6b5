"""stratus-dashboard: the web dashboard (Horizon's role). It reaches the controller only through
the public gRPC API, with each user's own token, so it runs on any host and never bypasses
policy."""
