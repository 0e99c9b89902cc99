"""gc.compile: graph -> optimized graph -> a backend's callable, behind one calling convention."""
from __future__ import annotations

import functools
import os

from typing import Callable

import numpy as np

from .backend.binding import InputSpec
from .backend.blas import BlasThreads
from .collector import paused
from .ir.graph import Graph, graph_inputs
from .ir.node import Node

# name -> factory(graph, spec, **options) returning an object with .run(arrays, dims) -> list.
# A backend module adds itself here; the reference interpreter is always present.
BACKENDS: dict[str, Callable] = {}


def register_backend(name: str, factory: Callable) -> None:
    BACKENDS[name] = factory


def _reference_factory(graph, spec, upcast=False, donate=None, **unknown):
    if unknown:  # say which option, not "_reference_factory() got an unexpected keyword"
        raise TypeError(f"compile: unknown option(s) {', '.join(map(repr, unknown))} for "
                        f"backend 'reference' (it takes: upcast, dump_dir, donate)")
    from .backend.reference import ReferenceFunction
    return ReferenceFunction(graph, spec, upcast=upcast)


register_backend("reference", _reference_factory)


class CompiledFunction:
    """A compiled graph. Call it with arrays by input name (or positionally, in `inputs`
    order); get a tuple of arrays (or one array when one tensor was compiled)."""

    def __init__(self, outputs, single: bool, graph: Graph, raw: Graph, impl, spec, report):
        self.outputs, self.single = outputs, single
        self.graph, self.raw_graph = graph, raw
        self.impl, self.spec, self.report = impl, spec, report
        self.donated: set = set()  # outputs a backend may write into their inputs' arrays

    @functools.cached_property
    def blas_threads(self) -> BlasThreads:
        """BLAS threads per call of the checked path, from the call's sizes (built at its
        first call: a fast path never needs it)."""
        return BlasThreads(self.graph)

    @property
    def backend(self) -> str:
        return self.impl.backend

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.spec.inputs]

    def __call__(self, *args, **kwargs):
        fast = getattr(self.impl, "fast_call", None)
        # the fast path skips binding (it runs the input checks binding would: index ranges of
        # a gather, symbolic slice bounds, and on a failure leaves the message to binding)
        if fast is not None and not args:
            results = fast(kwargs)
            if results is not None:  # every array exactly as the program wants it
                return results[0] if self.single else results
        arrays, dims = self.spec.bind(args, kwargs)
        with self.blas_threads.limit(dims):
            results = self.impl.run(arrays, dims)
        # an output that is an input node would otherwise hand back the caller's own array
        fresh, seen = [], {id(a) for a in arrays.values()}
        for k, (node, value) in enumerate(zip(self.graph.outputs, results)):
            v = np.asarray(value)
            if v.dtype != np.dtype(node.dtype) and not self.spec.upcast:
                v = v.astype(node.dtype)
            # never hand out memory a later call (or the caller's input) could change, but
            # an output written into the input it was donated to is that input
            if k not in self.donated and (not v.flags.owndata or not v.flags.writeable
                                          or id(v) in seen):
                v = v.copy()
            seen.add(id(v))
            fresh.append(v)
        return fresh[0] if self.single else tuple(fresh)

    @property
    def source(self) -> str | None:
        """The code the backend generated for this function (None for the reference
        interpreter, which generates none): for "cpu", the driver and every kernel."""
        return getattr(self.impl, "source", None)

    @property
    def kernels(self) -> list:
        """The kernels a call runs, in order: for "cpu", each with the ops it computes, its
        schedule and whether BLAS or generated code runs it; for the reference, the graph's
        kernel nodes."""
        if hasattr(self.impl, "kernels"):
            return list(self.impl.kernels)
        from .passes.kernels import kernels
        return kernels(self.graph)

    def cost(self):
        """Symbolic FLOPs and bytes per kernel of the compiled graph (see graphc.cost)."""
        from .cost import cost
        return cost(self.graph)

    def __repr__(self):
        return (f"<graphc.CompiledFunction backend={self.backend} inputs={self.input_names} "
                f"outputs={len(self.graph.outputs)} nodes={len(self.graph)}>")


def default_backend() -> str:
    """The backend gc.compile and gc.train_step use when none is named: GRAPHC_BACKEND, else
    "cpu" (Numba-compiled kernels); "reference" is the NumPy interpreter every backend is
    tested against."""
    return os.environ.get("GRAPHC_BACKEND") or "cpu"


@paused()  # collector.py: the collections of what compiling builds come after it
def compile(outputs, inputs=None, backend: str | None = None, passes=None,
            opt_level: int | None = None, fast_math: bool = False, donate: dict | None = None,
            **options) -> CompiledFunction:  # noqa: A001
    """Compile outputs into a callable, for `backend` (default: `default_backend()`).

    `passes` is a list of passes (or their names) to run instead of the default pipeline;
    `opt_level=0` runs none; `dump_dir=` (or env GRAPHC_DUMP_DIR) writes the graph after
    each pass as numbered .dot files. The default pipeline never changes a result;
    `fast_math=True` also applies algebra that may (x - x = 0, x * 0 = 0, exp(log x) = x),
    as a C compiler's -ffast-math: results then agree on finite inputs up to rounding.
    `donate={output index: input name}` lets a backend write that output into that input's
    array and hand the array back (a training step's new parameters into the parameters:
    gc.train_step does this); a backend that cannot returns a fresh array as usual. The
    symbolic dims are bound at each call, so one compiled function serves every batch size.

    >>> import graphc as gc, numpy as np
    >>> x = gc.tensor("x", ("B", 3)); f = gc.compile((x * 2).sum())
    >>> float(f(x=np.ones((4, 3), np.float32)))
    24.0
    """
    backend = backend or default_backend()
    _load_optional_backends([backend] if backend in OPTIONAL else [])  # only the one asked for
    if backend not in BACKENDS:
        if backend in UNAVAILABLE:  # a known backend this machine cannot run: say why
            raise ValueError(f"backend {backend!r} is not available here: "
                             f"{UNAVAILABLE[backend]}; available backends: "
                             f"{', '.join(available_backends())}")
        raise ValueError(f"unknown backend {backend!r}; available backends: "
                         f"{', '.join(available_backends())}")
    single = isinstance(outputs, Node)
    try:
        outs = (outputs,) if single else tuple(outputs)
    except TypeError:  # not "'float' object is not iterable": say what compile wants
        raise TypeError(f"compile: outputs must be a graphc tensor or a list of them (what "
                        f"gc.tensor, operators and gc.grad build), got "
                        f"{type(outputs).__name__} {outputs!r:.40}") from None
    for o in outs:
        if not isinstance(o, Node):
            raise TypeError(f"compile: outputs must be graphc tensors, got {type(o).__name__}")
    if inputs is None:
        inputs = graph_inputs(outs)
    else:
        inputs = [inputs] if isinstance(inputs, Node) else list(inputs)
        for i in inputs:
            if not isinstance(i, Node) or i.op != "input":
                raise TypeError(f"compile: inputs must be tensors made by gc.tensor, got {i!r}")
        missing = [i.name for i in graph_inputs(outs) if all(i is not j for j in inputs)]
        if missing:
            raise ValueError(f"compile: the outputs need input(s) {missing} that are not in "
                             f"`inputs`")
    raw = Graph.of(outs, inputs)
    from .passes.pipeline import optimize
    graph, report = optimize(raw, passes=passes, opt_level=opt_level, fast_math=fast_math,
                             dump_dir=options.pop("dump_dir", None))
    spec = InputSpec(list(inputs), graph.outputs, upcast=options.get("upcast", False))
    impl = BACKENDS[backend](graph, spec, donate=donate, **options)
    f = CompiledFunction(outs, single, graph, raw, impl, spec, report)
    f.donated = set(donate or ())
    return f


def available_backends() -> list[str]:
    """The names `compile(..., backend=NAME)` accepts on this machine."""
    _load_optional_backends()
    return sorted(BACKENDS)


# backends that need optional pieces (a package, a device): name -> the module that registers
# it when importable, and why one is not (its ImportError), for compile's error
OPTIONAL = {"cpu": "graphc.backend.numba_cpu", "cuda": "graphc.backend.numba_cuda"}
UNAVAILABLE: dict[str, str] = {}


def _load_optional_backends(names=OPTIONAL):
    """Backends that need optional pieces register themselves when importable (each looked
    for once per process: finding a GPU takes a driver call)."""
    import importlib
    for name in names:
        if name in BACKENDS or name in UNAVAILABLE:
            continue
        try:
            importlib.import_module(OPTIONAL[name])
        except ImportError as e:
            UNAVAILABLE[name] = str(e)
