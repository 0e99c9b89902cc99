"""Straight-line kernel bodies: what an elementwise node computes, one statement per op.

Every elementwise node holds a `Body`: its operands are the parameters `x0, x1, ...`, and
each `Stmt` applies ONE op's formula (a ScalarFn) to earlier values or to literals,
in the order the user's graph ran them, with an explicit dtype:

    x0 = <operand 0>                    # param_dtypes[0]: float32
    t1 = tanh(x0)                       # Stmt(TANH, (0,), float32)
    t2 = t1 * 0.9                       # Stmt(MUL, (1, Lit(0.9)), float32)

An op written by a user is a body of one statement; fuse_elementwise makes bodies of many.
Nothing is ever composed into one sympy expression: formulas stay the ops' own, so nothing
is cancelled, reassociated or reordered (`x - x` stays a subtraction), a body's size grows
linearly with the ops it holds, and every printer (NumPy now, Numba later) emits one line
per statement.

Values are numbered: params 0..P-1, then statement k is value P+k.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import sympy

from .scalar import ARITHMETIC, ScalarFn
from .terms import free_symbols, shared_terms


# ---- literals ------------------------------------------------------------------------------
class Lit:
    """A literal operand: a number the user wrote (`x * 0.9`), a uniform constant folded in,
    or a size in symbolic dims (the `B` a mean divides by). Like NumPy's Python scalars it is
    weak: it takes the dtype its statement computes in. Literals compare by kind and exact
    value, so 0.0 and -0.0 (and 1 and 1.0, which promote differently) stay apart."""

    __slots__ = ("value", "kind", "_key")

    def __init__(self, value):
        if isinstance(value, Lit):
            value = value.value
        if isinstance(value, (bool, np.bool_)):
            value = int(value)
        if isinstance(value, sympy.Expr):
            if value.is_Integer:
                value = int(value)
            elif value.is_Float:
                value = float(value)
        if isinstance(value, numbers.Integral):
            value, kind = int(value), "int"
        elif isinstance(value, numbers.Real):
            value, kind = float(value), "float"
        elif isinstance(value, sympy.Expr) and value.free_symbols and not value.is_number:
            kind = "dim"  # an integer size, known at call time
        elif isinstance(value, sympy.Expr) and value.is_number and value.is_real:
            value, kind = float(value), "float"  # sqrt(2) and the like
        else:
            raise TypeError(f"a literal must be a real number or a size in symbolic dims, "
                            f"got {value!r}")
        self.value, self.kind = value, kind
        self._key = (kind, repr(value) if kind == "float" else value)

    def __eq__(self, other):
        return isinstance(other, Lit) and self._key == other._key

    def __hash__(self):
        return hash(self._key)

    def weak(self, dims=None):
        """The Python scalar NumPy sees (0 for a size when no dims are given)."""
        if self.kind != "dim":
            return self.value
        return int(self.value.subs(dims)) if dims else 0

    def __str__(self):
        return repr(self.value) if self.kind != "dim" else str(self.value)

    __repr__ = __str__


# ---- dtypes --------------------------------------------------------------------------------
def is_float(dtype: str) -> bool:
    return np.dtype(dtype).kind == "f"


def _integer_math(args) -> bool:
    """Whether a ring op ("ring": +, -, *) over `args`, none of them a float, computes in
    integers: an integer operand and no float literal (`i * 0.5` is float math)."""
    return any(not isinstance(a, Lit) and np.dtype(a).kind in "iu" for a in args) and \
        not any(isinstance(a, Lit) and a.kind == "float" for a in args)


def _promote(args) -> str:
    """NumPy's promotion of dtypes and weak Python scalars (NEP 50): int8 with 3 stays int8,
    int8 with 0.5 is float64, float32 with 0.5 stays float32."""
    dtypes = [np.dtype(a) for a in args if not isinstance(a, Lit)]
    weak = [a.weak() for a in args if isinstance(a, Lit)]
    if not dtypes:  # literals alone: graphc's defaults, as gc.constant has them
        return "float32" if any(isinstance(w, float) for w in weak) else "int64"
    return np.result_type(*dtypes, *weak).name


def statement_dtypes(fn: ScalarFn, args, requested: str | None = None) -> tuple[str, str]:
    """(compute dtype, result dtype) of `fn` over `args` (dtype names, or Lits).

    The compute dtype is what every operand is converted to before the formula runs (the
    condition of a "select" is read as bool instead); see ScalarFn's kinds. An integer
    literal that the compute dtype cannot hold (`uint8 + 300`) is refused here, as NumPy
    refuses it, rather than wrapped by one backend and refused by another."""
    if len(args) != fn.arity:
        raise ValueError(f"{fn.name}: takes {fn.arity} operands, got {len(args)}")
    result = None
    if fn.kind in ARITHMETIC:
        floats = [a for a in args if not isinstance(a, Lit) and is_float(a)]
        if fn.kind == "ring" and not floats and _integer_math(args):
            compute = requested or _promote(args)
        else:
            compute = requested or (np.result_type(*floats).name if floats else "float32")
    elif fn.kind == "promote":
        compute = requested or _promote(args)
    elif fn.kind == "compare":
        if requested not in (None, "bool"):
            raise ValueError(f"{fn.name}: a comparison gives bool, not {requested}")
        compute, result = _widened(_promote(args), args), "bool"
    else:  # select
        compute = requested or _promote(args[1:])
    _literals_fit(fn, args[1:] if fn.kind == "select" else args, compute)
    return compute, result or compute


def _widened(compute: str, args) -> str:
    """A comparison's compute dtype, wide enough for its integer literals: `uint8 > 300` is
    False, as NumPy says, not a comparison with 300 wrapped to 44."""
    for a in args:
        if isinstance(a, Lit) and a.kind == "int" and np.dtype(compute).kind in "iu" and \
                not np.iinfo(compute).min <= a.value <= np.iinfo(compute).max:
            compute = np.result_type(compute, np.min_scalar_type(a.value)).name
    return compute


def _literals_fit(fn: ScalarFn, args, compute: str) -> None:
    if np.dtype(compute).kind not in "iu":
        return
    info = np.iinfo(compute)
    for a in args:
        if isinstance(a, Lit) and a.kind == "int" and not info.min <= a.value <= info.max:
            raise OverflowError(
                f"{fn.name}: the integer {a.value} is out of range for {compute}, the dtype "
                f"its operands compute in ({info.min} to {info.max}); convert the tensor to "
                f"a wider dtype first (gc.astype), as NumPy asks too")


# ---- statements and bodies -----------------------------------------------------------------
@dataclass(frozen=True)
class Stmt:
    """One op applied to earlier values (ints) or literals (Lit), giving `dtype`."""

    fn: ScalarFn
    args: tuple
    dtype: str
    compute: str

    def operand_dtype(self, k: int) -> str:
        """The dtype argument k is converted to before the formula reads it."""
        return "bool" if self.fn.kind == "select" and k == 0 else self.compute


@dataclass(frozen=True)
class Body:
    """A straight-line body: parameters of `param_dtypes`, statements, and the value it
    returns (`result`, a value index)."""

    param_dtypes: tuple
    stmts: tuple
    result: int

    def __hash__(self):
        # computed once: a body is a cache key every time a kernel runs
        return self._hash

    def __eq__(self, other):
        return self is other or (isinstance(other, Body) and self._hash == other._hash and
                                 self.result == other.result and
                                 self.param_dtypes == other.param_dtypes and
                                 self.stmts == other.stmts)

    def __post_init__(self):
        object.__setattr__(self, "_hash", hash((self.param_dtypes, self.stmts, self.result)))
        n = len(self.param_dtypes)
        for k, s in enumerate(self.stmts):
            if len(s.args) != s.fn.arity:
                raise ValueError(f"body: statement {k} gives {s.fn.name} {len(s.args)} "
                                 f"arguments, it takes {s.fn.arity}")
            for a in s.args:
                if not isinstance(a, Lit) and not (isinstance(a, int) and 0 <= a < n + k):
                    raise ValueError(f"body: statement {k} ({s.fn.name}) reads {a!r}, which is "
                                     f"not a parameter or an earlier statement")
        if not 0 <= self.result < n + len(self.stmts):
            raise ValueError(f"body: result {self.result} is not a value of the body")

    @property
    def n_params(self) -> int:
        return len(self.param_dtypes)

    @property
    def dtype(self) -> str:
        return self.value_dtype(self.result)

    def value_dtype(self, v: int) -> str:
        n = len(self.param_dtypes)
        return self.param_dtypes[v] if v < n else self.stmts[v - n].dtype

    @property
    def name(self) -> str:
        """The op's name for a body of one statement, else "fused"."""
        return self.stmts[0].fn.name if len(self.stmts) == 1 else "fused"

    @property
    def single(self) -> Stmt | None:
        """The statement of a body that is one op applied to its params in order (what the
        DSL builds), else None."""
        if len(self.stmts) != 1 or self.result != self.n_params:
            return None
        return self.stmts[0]

    def reads(self) -> list[bool]:
        """For each param, whether a statement the result needs reads it."""
        needed = self.needed()
        read = [False] * self.n_params
        if self.result < self.n_params:
            read[self.result] = True
        for k, s in enumerate(self.stmts):
            if needed[k]:
                for a, used in zip(s.args, s.fn.reads):
                    if used and isinstance(a, int) and a < self.n_params:
                        read[a] = True
        return read

    def needed(self) -> list[bool]:
        """For each statement, whether the result depends on it (a backward sweep)."""
        n = self.n_params
        need = [False] * len(self.stmts)
        if self.result >= n:
            need[self.result - n] = True
        for k in range(len(self.stmts) - 1, -1, -1):
            if need[k]:
                s = self.stmts[k]
                for a, used in zip(s.args, s.fn.reads):
                    if used and isinstance(a, int) and a >= n:
                        need[a - n] = True
        return need

    def dim_symbols(self) -> tuple:
        syms = set()
        for s in self.stmts:
            syms.update(s.fn.dim_symbols())
            for a in s.args:
                if isinstance(a, Lit) and a.kind == "dim":
                    syms.update(a.value.free_symbols)
        return tuple(sorted(syms, key=str))

    def lines(self) -> list[str]:
        """The body as a user reads it, one line per statement: `t2 = t1 * 0.9`."""
        names = [value_name(v, self.n_params) for v in range(self.n_params + len(self.stmts))]
        out = []
        for k, s in enumerate(self.stmts):
            args = [str(a) if isinstance(a, Lit) else names[a] for a in s.args]
            out.append(f"{names[self.n_params + k]} = {s.fn.written(args)}")
        out.append(f"return {names[self.result]}")
        return out

    def __str__(self):
        return "; ".join(self.lines())


def value_name(v: int, n_params: int) -> str:
    """x0, x1, ... for params; t<k> for the statement that is value k."""
    return f"x{v}" if v < n_params else f"t{v}"


# ---- building bodies -----------------------------------------------------------------------
class BodyBuilder:
    """Appends statements, then numbers the values (params first) in `build`.

    Refs handed out are ("p", k) for param k and ("s", k) for statement k; arguments are refs
    or Lits."""

    def __init__(self):
        self.param_dtypes: list[str] = []
        self.stmts: list[tuple] = []  # (fn, args as refs/Lits, dtype, compute)

    def param(self, dtype: str):
        self.param_dtypes.append(dtype)
        return ("p", len(self.param_dtypes) - 1)

    def dtype_of(self, ref) -> str | Lit:
        if isinstance(ref, Lit):
            return ref
        kind, k = ref
        return self.param_dtypes[k] if kind == "p" else self.stmts[k][2]

    def apply(self, fn: ScalarFn, args, requested: str | None = None):
        """fn over args, with the dtypes the rules give (an op as the DSL builds it)."""
        compute, dtype = statement_dtypes(fn, [self.dtype_of(a) for a in args], requested)
        return self.add(fn, args, dtype, compute)

    def add(self, fn: ScalarFn, args, dtype: str, compute: str):
        """A statement with dtypes given (copied from an existing statement)."""
        self.stmts.append((fn, tuple(args), dtype, compute))
        return ("s", len(self.stmts) - 1)

    def inline(self, body: Body, operands):
        """Append `body`'s statements with its params bound to `operands` (refs or Lits);
        returns the ref (or Lit) of its result."""
        values = list(operands)
        if len(values) != body.n_params:
            raise ValueError(f"inline: the body takes {body.n_params} operands, got {len(values)}")
        for s in body.stmts:
            args = [a if isinstance(a, Lit) else values[a] for a in s.args]
            values.append(self.add(s.fn, args, s.dtype, s.compute))
        return values[body.result]

    def build(self, result) -> Body:
        """The body returning `result`, without statements it does not need."""
        if isinstance(result, Lit):
            raise ValueError(f"body: a body returns a value, not the literal {result}")
        n = len(self.param_dtypes)
        need = [False] * len(self.stmts)
        if result[0] == "s":
            need[result[1]] = True
        for k in range(len(self.stmts) - 1, -1, -1):
            if need[k]:
                for a, used in zip(self.stmts[k][1], self.stmts[k][0].reads):
                    if used and not isinstance(a, Lit) and a[0] == "s":
                        need[a[1]] = True
        number, stmts = {}, []
        for k, (fn, args, dtype, compute) in enumerate(self.stmts):
            if not need[k]:
                continue
            # an argument the formula ignores reads nothing (its statement may be gone)
            args = tuple(a if isinstance(a, Lit) else IGNORED if not used else
                         a[1] if a[0] == "p" else number[a[1]]
                         for a, used in zip(args, fn.reads))
            number[k] = n + len(stmts)
            stmts.append(Stmt(fn, args, dtype, compute))
        res = result[1] if result[0] == "p" else number[result[1]]
        return Body(tuple(self.param_dtypes), tuple(stmts), res)


# what a statement passes for a parameter its formula ignores
IGNORED = Lit(0)


def prune(body: Body) -> tuple[Body, list[int]]:
    """(`body` without the params no needed statement reads, the kept params' indices)."""
    read = body.reads()
    kept = [k for k, r in enumerate(read) if r]
    if len(kept) == body.n_params:
        return body, kept
    mapping = [kept.index(k) if r else IGNORED for k, r in enumerate(read)]
    return remap_params(body, [body.param_dtypes[k] for k in kept], mapping), kept


def one_op(fn: ScalarFn, operands, requested: str | None = None) -> Body:
    """The body of one op: `operands` are dtype names (one param each, in order) or Lits."""
    b = BodyBuilder()
    args = [o if isinstance(o, Lit) else b.param(o) for o in operands]
    return b.build(b.apply(fn, args, requested))


def remap_params(body: Body, param_dtypes, mapping) -> Body:
    """`body` over new params: old param k reads new param mapping[k] (or a Lit)."""
    b = BodyBuilder()
    new = [b.param(d) for d in param_dtypes]
    operands = [m if isinstance(m, Lit) else new[m] for m in mapping]
    return b.build(b.inline(body, operands))


def split_terms(body: Body) -> Body:
    """`body` with each statement whose formula repeats terms (terms.py) split into one
    statement per repeated term, then one for the rest: each a formula that repeats nothing.
    That is what the autodiff differentiates: sympy.diff of a formula's tree takes time
    exponential in its depth, of the statements time linear in its size. The terms keep the
    statement's compute dtype, as the printed code computes them. A body with no such
    statement comes back as it is."""
    if not any(shared_terms(s.fn.expr)[0] for s in body.stmts if s.fn.kind in ARITHMETIC):
        return body
    b = BodyBuilder()
    values = [b.param(d) for d in body.param_dtypes]
    for s in body.stmts:
        args = [a if isinstance(a, Lit) else values[a] for a in s.args]
        terms, rest = shared_terms(s.fn.expr) if s.fn.kind in ARITHMETIC else ((), None)
        if not terms:
            values.append(b.add(s.fn, args, s.dtype, s.compute))
            continue
        known = dict(zip(s.fn.params, args))  # symbol -> the ref (or Lit) it reads
        taken, names = {str(p) for p in free_symbols(s.fn.expr)}, {}
        for k, (symbol, term) in enumerate(terms):
            fn, reads = _term_fn(f"{s.fn.name}_t{k}", term, known, names)
            name = f"t{k}"
            while name in taken:
                name = "_" + name
            names[symbol] = sympy.Symbol(name)
            known[names[symbol]] = b.add(fn, reads, s.compute, s.compute)
        fn, reads = _term_fn(s.fn.name, rest, known, names)
        values.append(b.add(fn, reads, s.dtype, s.compute))
    return b.build(values[body.result])


def _term_fn(name: str, term, known: dict, names: dict) -> tuple[ScalarFn, list]:
    """(the ScalarFn computing `term` over the symbols it reads, the refs they are). The
    earlier terms' Dummies are read as the plain symbols in `names`, so that the formula is
    the same in every process (a compile cache key)."""
    with sympy.evaluate(False):  # nothing simplified: x + x stays a sum
        expr = term.xreplace(names)
    free = free_symbols(expr)
    params = tuple(p for p in known if p in free)
    return ScalarFn(name, params, expr), [known[p] for p in params]
