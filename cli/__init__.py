"""The `stratus` command-line client: nouns and verbs over the generated gRPC stubs."""
