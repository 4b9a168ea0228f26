"""Models built on fastgen's ops, used by the demos and the end-to-end benchmarks."""
