"""Console authorization (Nova's consoleauth): one-time tokens for console URLs."""
