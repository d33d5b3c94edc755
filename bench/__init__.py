"""Benchmarks: runnable modules printing figures side by side (never timed assertions)."""
