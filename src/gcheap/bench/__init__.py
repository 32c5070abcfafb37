"""`gcheap bench`: pause-time benchmarks and research experiments (docs/bench.md)."""
