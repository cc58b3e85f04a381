"""The runtime: compiled kernels called from Python, and the graph-level executor."""
