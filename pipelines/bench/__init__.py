"""Side-by-side speed measurements behind `scansense bench` (figures go to docs/BENCHMARKS.md)."""
