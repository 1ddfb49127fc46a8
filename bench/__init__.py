"""Benchmarks (not part of the test suite): each script prints its figures next to a baseline."""
