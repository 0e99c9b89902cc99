"""The blocks benchmarks/run.py measures, its timing protocol and its table (see run.py)."""
