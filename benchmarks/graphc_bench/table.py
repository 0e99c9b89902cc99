"""The one table benchmarks/run.py prints: a row per (case, system), ratios against the peers
measured in the same case of the same run, as aligned text or as Markdown."""
from __future__ import annotations

from dataclasses import dataclass

from .protocol import Timing


@dataclass
class Row:
    block: str                   # "matmul", "mlp step", ...
    case: str                    # "n=512", "big 784-512-512-10 b256", ...
    system: str
    seconds: float | None = None  # per call (per step); None: skipped or failed
    flops: float | None = None    # per call, for the GFLOP/s column
    quiet: str = ""               # "7/7" quiet blocks, or "noisy 2/7"
    note: str = ""
    peer: str | None = None       # this row is the baseline of the "vs <peer>" column

    def timed(self, timing: Timing) -> "Row":
        self.seconds = timing.seconds
        counts = f"{timing.quiet_blocks}/{timing.wanted_blocks}"
        self.quiet = f"noisy {counts}" if timing.noisy else counts
        return self


OPTIONAL_PEERS = ("torch", "jax", "jaxlib")


def failure(e: BaseException) -> str:
    """A row's note for a system that raised: "skipped" where an optional peer is not
    installed, else the exception's type and first line (a broken import of graphc's own
    is a failure, not a skip)."""
    missing = getattr(e, "name", None) or ""
    if isinstance(e, ImportError) and missing.split(".")[0] in OPTIONAL_PEERS:
        return f"skipped: {missing.split('.')[0]} is not installed"
    return f"failed: {type(e).__name__}: {(str(e).splitlines() or [''])[0][:80]}"


def peers_in(rows: list[Row]) -> list[str]:
    """The ratio columns, in the order the peers first appear."""
    return list(dict.fromkeys(r.peer for r in rows if r.peer))


def ratio(row: Row, peer: str, rows: list[Row]) -> str:
    """peer's time / row's time in the same case: above 1, the row is faster than the peer."""
    base = next((r for r in rows if r.peer == peer and (r.block, r.case) == (row.block,
                                                                            row.case)), None)
    if base is None or base is row or not base.seconds or not row.seconds:
        return ""
    return f"{base.seconds / row.seconds:.2f}x"


def cells(rows: list[Row]) -> tuple[list[str], list[list[str]]]:
    peers = peers_in(rows)
    header = ["block", "case", "system", "time", "GFLOP/s"] + [f"vs {p}" for p in peers] + \
        ["quiet blocks", "notes"]
    body = []
    for r in rows:
        gflops = f"{r.flops / r.seconds / 1e9:.1f}" if r.flops and r.seconds else ""
        body.append([r.block, r.case, r.system, format_seconds(r.seconds), gflops]
                    + [ratio(r, p, rows) for p in peers] + [r.quiet, r.note])
    return header, body


def format_seconds(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    return f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.2f} s"


def render_text(rows: list[Row]) -> str:
    header, body = cells(rows)
    widths = [max(len(line[i]) for line in [header] + body) for i in range(len(header))]
    numeric = {"time", "GFLOP/s"} | {h for h in header if h.startswith("vs ")}

    def line(values):
        return "  ".join(v.rjust(w) if h in numeric else v.ljust(w)
                         for v, w, h in zip(values, widths, header)).rstrip()
    rule = "  ".join("-" * w for w in widths)
    out, last_block = [line(header), rule], None
    for r, values in zip(rows, body):
        if last_block is not None and r.block != last_block:
            out.append("")  # a blank line between blocks
        last_block = r.block
        out.append(line(values))
    return "\n".join(out)


def render_markdown(rows: list[Row]) -> str:
    header, body = cells(rows)
    numeric = {"time", "GFLOP/s"} | {h for h in header if h.startswith("vs ")}
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---:" if h in numeric else "---" for h in header) + "|"]
    out += ["| " + " | ".join(v.replace("|", "\\|") for v in values) + " |" for values in body]
    return "\n".join(out)
