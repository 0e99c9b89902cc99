"""Optimization passes: each a pure Graph -> Graph function; the order is pipeline.PIPELINE."""
