"""The console proxy: websockets from browsers and the CLI relayed to guests' consoles over
their nodes' own streams (docs/adr/0012-console-proxy.md)."""
