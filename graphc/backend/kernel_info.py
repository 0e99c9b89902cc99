"""What `f.kernels` lists for a compiled function, on every native backend."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KernelInfo:
    """One kernel of a compiled function, for f.kernels and `graphc kernels`."""

    name: str
    kind: str
    provenance: tuple
    function: str
    schedule: str
    flops: object
    runs: str          # "generated", "BLAS or generated", "NumPy reference"
    notes: tuple

    def __str__(self):
        return (f"{self.name:28s} {self.kind:18s} {'+'.join(self.provenance):34s} "
                f"{self.runs:20s} {self.schedule}")
