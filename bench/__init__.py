"""Benchmarks that print one JSON document: `python -m bench [name ...]` (see bench/README.md)."""
