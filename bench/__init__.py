"""Benchmarks for kairos_desktop: run them from the repository root (see bench/README.md)."""
