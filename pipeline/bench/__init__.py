"""Benchmarks: `python -m pipeline.bench` runs them all and prints Markdown tables."""
