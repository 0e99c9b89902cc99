"""Layering: graphc.ir imports nothing above it, ops register explicitly (one list), each fact
about an op family is a trait of its declaration, every cache is bounded, and `import graphc`
loads only the core."""
import ast
import functools
import importlib
import pathlib
import subprocess
import sys

import graphc
from graphc.compile import OPTIONAL
from graphc.ir.op import OPS, is_layout, is_reduction
from graphc.ops import ALL

ROOT = pathlib.Path(graphc.__file__).parent
MKL_GEMM = "graphc.backend.numba.mkl_gemm"  # importable only where MKL is installed
ABOVE_IR = ("graphc.dsl", "graphc.ops", "graphc.grad", "graphc.nn", "graphc.passes",
            "graphc.backend", "graphc.viz", "graphc.optim", "graphc.compile", "graphc.cost",
            "graphc.train", "graphc.cli", "graphc.checkpoint")


def imported_modules(path: pathlib.Path) -> set:
    """Every module a file imports, module level and inside functions, made absolute."""
    package = "graphc." + ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rstrip(".").split(".")
            if node.level:
                base = base[:len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            out.add(name)
    return out


def test_the_ir_imports_nothing_above_it():
    for path in (ROOT / "ir").glob("*.py"):
        bad = [m for m in imported_modules(path) if m.startswith(ABOVE_IR)]
        assert not bad, f"{path.name} imports {bad}"


def test_importing_the_ir_alone_loads_no_layer_above_the_ops():
    code = ("import sys, graphc.ir.shapes; "
            "print(' '.join(m for m in sys.modules if m.startswith('graphc')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    # graphc/__init__ registers the op table and the DSL's operators, nothing more
    heavy = ("graphc.nn", "graphc.optim", "graphc.passes", "graphc.viz", "graphc.cli",
             "graphc.train", "graphc.checkpoint", "graphc.backend.reference")
    assert not [m for m in loaded if m.startswith(heavy)], loaded


def test_ops_register_from_one_explicit_list():
    assert {d.name for d in ALL} == set(OPS) and len(ALL) == len(OPS)
    for path in (ROOT / "ops").glob("*.py"):
        assert "register(" not in path.read_text() or path.name == "__init__.py", path.name


def test_op_families_are_traits_of_the_declarations():
    layout = {n for n, d in OPS.items() if d.kind == "layout"}
    assert layout == {"reshape", "transpose", "broadcast_to", "stop_gradient", "slice",
                      "windows"}
    reductions = {n for n, d in OPS.items() if d.kind == "reduce"}
    assert reductions == {"sum", "max", "min", "logsumexp", "fused_reduce"}
    x = graphc.tensor("x", (2, 3))
    assert is_layout(x.T) and is_reduction(x.sum(0)) and not is_layout(graphc.exp(x))
    # nothing outside the declarations keeps its own list of layout ops or reductions
    for path in ROOT.rglob("*.py"):
        text = path.read_text()
        assert '("reshape", "transpose", "broadcast_to")' not in text, path
        assert '("transpose", "reshape", "broadcast_to")' not in text, path
        assert '("sum", "max", "logsumexp")' not in text, path
    # every op that computes declares its FLOPs
    assert all(d.flops is not None for d in OPS.values() if d.kind not in ("source", "layout"))


def test_every_cache_is_bounded():
    for path in ROOT.rglob("*.py"):
        if path.name == "__main__.py":
            continue  # running it is the CLI
        name = "graphc." + ".".join(path.relative_to(ROOT).with_suffix("").parts)
        try:
            module = importlib.import_module(name.removesuffix(".__init__"))
        except ImportError:
            if name not in OPTIONAL.values() and name != MKL_GEMM:
                raise
            continue  # an optional backend this machine cannot run ("cuda" without a GPU)
        for attr in vars(module).values():
            if isinstance(attr, functools._lru_cache_wrapper):
                assert attr.cache_info().maxsize is not None, f"{name}.{attr.__name__}"
