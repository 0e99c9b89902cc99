"""Backends: each turns a (optimized, scheduled) graph into a callable."""
