"""Printing for Numba: a body as scalar statements, sizes as integer code, accesses as indices.

`ScalarPrinter` is a sympy code printer (NumPyPrinter underneath) that prints one op's formula
over scalar argument texts: numbers typed by the statement's dtype (`np.float32(0.9)`, so a
float32 kernel stays float32 in Numba), Piecewise as Python conditional expressions, maximum
and minimum NaN-propagating as NumPy's. `int_code` prints a size or stride (a sympy expression
in the dims) as Python integer arithmetic. `Index` prints an Access at loop indices.
"""
from __future__ import annotations

import functools
import math

import sympy
from sympy.printing.numpy import NumPyPrinter

from ...ir.body import Body, Lit, value_name
from ...ir.terms import atoms, has, straight_line

# numpy functions Numba supports on scalars, by sympy function name (Numba's math.* functions
# return float64; np.* keep a float32 argument float32)
_FUNCS = {"exp": "np.exp", "log": "np.log", "sqrt": "np.sqrt", "tanh": "np.tanh",
          "sin": "np.sin", "cos": "np.cos", "Abs": "np.abs",
          "log1p": "np.log1p", "expm1": "np.expm1", "atan": "np.arctan"}


class ScalarPrinter(NumPyPrinter):
    """One formula over scalar arguments, in the numeric type `dtype`."""

    funcs = _FUNCS  # sympy function name -> the function printed (the CUDA printer's differ)

    def __init__(self, vector_math: bool = False):
        """vector_math: float32 erf and exp as graphc's float64 code LLVM vectorizes
        (vmath.py), for a kernel whose loop would otherwise call libm's erf per element."""
        super().__init__({"fully_qualified_modules": False, "inline": True,
                          "allow_unknown_functions": True, "user_functions": {}})
        self.args: dict = {}
        self.dtype = "float32"
        self.dims: dict = {}
        self.literals: dict = {}
        self.vector_math = vector_math

    def formula(self, fn, texts, dtype: str, dims: dict, literals: dict | None = None,
                name: str = "t") -> tuple[list, str]:
        """(lines binding the terms the formula repeats, each once, to `name`_0, `name`_1...:
        terms.py's shared_terms; the formula's code). `literals`: the params whose
        arguments are literal numbers, with their values."""
        self.args, self.dtype, self.dims = dict(zip(fn.params, texts)), dtype, dims
        self.literals = literals or {}
        # as doprint prints one expression (strict: what has no printer raises), without its
        # handling of assignments, which imports sympy.codegen: 5 ms of a warm first step
        self._not_supported, self._number_symbols = set(), set()
        return straight_line(fn.expr, lambda e: self._print(self._handle_UnevaluatedExpr(e)),
                             self.args, name)

    def _print_Symbol(self, s):
        if s in self.args:
            return self.args[s]
        if s in self.dims:
            return f"np.{self.dtype}({self.dims[s]})"
        return super()._print_Symbol(s)

    def _print(self, expr, **kwargs):
        if isinstance(expr, sympy.Expr) and expr.is_number and expr.is_extended_real \
                and expr.is_finite and not isinstance(expr, sympy.Integer):
            return f"np.{self.dtype}({float(expr)!r})"
        return super()._print(expr, **kwargs)

    def _print_Integer(self, expr):
        return f"np.{self.dtype}({int(expr)})"

    def _print_Pow(self, expr, rational=False):
        # the exponents NumPy (and torch) compute otherwise than pow: `x ** 0.5` is sqrt (-0.0
        # at -0.0 and NaN at -inf, where pow gives 0.0 and inf); ** -1 a reciprocal, ** 2 a
        # square. Whether sympy holds the exponent as an integer, a rational or a float, or
        # it is pow's literal operand (x ** 0.5 in the DSL); a tensor exponent is pow's
        base, exp = expr.args
        value = self.literals.get(exp, exp)
        e = None if isinstance(value, sympy.Expr) and not (value.is_number and value.is_real) \
            else float(value)
        if e == -1:
            return f"(np.{self.dtype}(1) / {self.parenthesize(base, 100)})"
        if e == 2:
            b = self.parenthesize(base, 100)
            return f"({b} * {b})"
        if e == 0.5:
            return f"{self.funcs['sqrt']}({self._print(base)})"
        return f"({self.parenthesize(base, 100)} ** {self.parenthesize(exp, 100)})"

    def _print_Function(self, expr):
        name = type(expr).__name__
        if self.vector_math and self.dtype == "float32" and name in ("erf", "exp"):
            return f"np.float32({name}64(np.float64({self._print(expr.args[0])})))"
        if name in self.funcs:
            return f"{self.funcs[name]}({', '.join(self._print(a) for a in expr.args)})"
        if name == "erf":  # math.erf is float64: back to the statement's type
            return f"np.{self.dtype}(math.erf({self._print(expr.args[0])}))"
        return super()._print_Function(expr)

    _print_exp = _print_log = _print_sqrt = _print_tanh = _print_Abs = _print_Function

    def _print_sign(self, expr):
        """np.sign: -1, 0 or 1 in the argument's type, NaN for NaN, and 0.0 for -0.0, as
        NumPy and torch (Numba's np.sign gave -0.0)."""
        x, t = self._print(expr.args[0]), f"np.{self.dtype}"
        return (f"({t}(1) if {x} > {t}(0) else ({t}(-1) if {x} < {t}(0) else "
                f"({x} if {x} != {x} else {t}(0))))")

    def _print_erf(self, expr):
        return self._print_Function(expr)

    def _print_Piecewise(self, expr):
        *pieces, (last, last_cond) = expr.args
        out = self._print(last) if last_cond == sympy.true else f"np.{self.dtype}(np.nan)"
        for value, cond in reversed(pieces):
            out = f"({self._print(value)} if {self._print(cond)} else {out})"
        return out

    def _print_Dummy(self, s):  # a term bound by `formula` (a Dummy prints as name_index)
        return self.args[s] if s in self.args else super()._print_Dummy(s)

    def _print_ITE(self, expr):  # sympy's if-then-else of booleans, in a condition
        a, b, c = (self._print(e) for e in expr.args)
        return f"({b} if {a} else {c})"

    def _print_Relational(self, expr):
        op = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}[expr.rel_op]
        return f"({self._print(expr.lhs)} {op} {self._print(expr.rhs)})"

    # NumPy's maximum and minimum give their second argument at a tie (maximum(0.0, -0.0) is
    # -0.0), Numba's lowering of them their first: so the arguments go in the other way round
    # (NaN propagates either way), and the reference's order holds
    def _print_Max(self, expr):
        out = self._print(expr.args[0])
        for a in expr.args[1:]:
            out = f"np.maximum({self._print(a)}, {out})"
        return out

    def _print_Min(self, expr):
        out = self._print(expr.args[0])
        for a in expr.args[1:]:
            out = f"np.minimum({self._print(a)}, {out})"
        return out

    def _print_And(self, expr):
        return "(" + " and ".join(self._print(a) for a in expr.args) + ")"

    def _print_Or(self, expr):
        return "(" + " or ".join(self._print(a) for a in expr.args) + ")"

    def _print_BooleanTrue(self, expr):
        return "True"

    def _print_BooleanFalse(self, expr):
        return "False"


# the printed functions that are libm calls per element, which LLVM cannot vectorize (the
# others are LLVM intrinsics, which it can; exp is vmath.py's where this decides)
_SCALAR_CALLS = set(_FUNCS) - {"exp", "sqrt", "Abs"}


# the functions computed by a routine per call rather than an instruction or two: a loop that
# calls one per element is worth threads at fewer elements (kernels.py, _may_split)
TRANSCENDENTAL = _SCALAR_CALLS | {"exp", "erf"}


def calls_transcendental(body) -> bool:
    """Whether a body computes a transcendental function (an erf, exp, log, tanh...)."""
    return any(type(f).__name__ in TRANSCENDENTAL
               for s in body.stmts for f in atoms(s.fn.expr, sympy.Function))


def uses_vector_math(body) -> bool:
    """Whether an elementwise body's erf and exp are vmath.py's, which vectorize: it computes
    erf or exp (GELU, its gradient, a cross-entropy's gradient; 3-4x faster) and nothing a
    libm call or a power computes per element, which would keep the loop scalar anyway."""
    exprs = [s.fn.expr for s in body.stmts]
    names = {type(f).__name__ for e in exprs for f in atoms(e, sympy.Function)}
    powers = any(not (p.is_number or p.exp.is_Integer or p.exp == sympy.Rational(1, 2))
                 for e in exprs for p in atoms(e, sympy.Pow))  # a constant prints as a number
    return bool(names & {"erf", "exp"}) and not (names & _SCALAR_CALLS) and not powers


def body_lines(body: Body, operand_texts, dims: dict, prefix: str = "v",
               printer: ScalarPrinter | None = None) -> tuple[list, str]:
    """(statement lines, the result's name) for `body` with params read as `operand_texts`.
    Every statement converts its operands to its compute dtype and its result to its dtype
    (np.float32(...) where the types differ), exactly as the reference does. `printer`: the
    formula printer (the CUDA backend passes its own)."""
    printer = printer or ScalarPrinter()
    n = body.n_params
    names = list(operand_texts) + [f"{prefix}{value_name(n + k, n)}" for k in
                                   range(len(body.stmts))]
    lines = []
    for k, s in enumerate(body.stmts):
        texts = []
        for j, a in enumerate(s.args):
            want = s.operand_dtype(j)
            if isinstance(a, Lit):
                value = _dim_code(a.value, dims, want) if a.kind == "dim" else \
                    _number(a.value)
                texts.append(f"np.{want}({value})" if want != "bool" else f"bool({value})")
            elif body.value_dtype(a) == want:
                texts.append(names[a])
            else:
                texts.append(f"np.{want}({names[a]})" if want != "bool" else f"bool({names[a]})")
        literals = {p: a.value for p, a in zip(s.fn.params, s.args)
                    if isinstance(a, Lit) and a.kind != "dim"}
        terms, code = printer.formula(s.fn, texts, s.compute, dims, literals, names[n + k])
        lines += terms
        if s.dtype == "bool":
            code = f"bool({code})"
        elif not _keeps_type(s):
            code = f"np.{s.dtype}({code})"
        lines.append(f"{names[n + k]} = {code}")
    return lines, names[body.result]


def _dim_code(expr, dims: dict, dtype: str) -> str:
    """A literal in the dims (a mean's 1/B) as code: a quotient of sizes is a true division
    where a float is wanted (1 // B would be 0), integer arithmetic otherwise."""
    num, den = sympy.fraction(sympy.together(sympy.sympify(expr)))
    if den != 1 and dtype.startswith("float"):
        return f"({int_code(num, dims)}) / ({int_code(den, dims)})"
    return int_code(expr, dims)


def _number(v) -> str:
    """A literal's value as Python code: repr, except inf and nan (np.inf, -np.inf, np.nan)."""
    if isinstance(v, float) and not math.isfinite(v):
        return "np.nan" if math.isnan(v) else ("np.inf" if v > 0 else "-np.inf")
    return repr(v)


def _keeps_type(stmt) -> bool:
    """Numba gives +, -, *, / and np ufuncs of two floats of one type that type; anything
    else (integers, bools, erf, conditionals) is converted explicitly."""
    if stmt.dtype != stmt.compute or not stmt.dtype.startswith("float"):
        return False
    return not has(stmt.fn.expr, sympy.Piecewise, sympy.erf, sympy.Max, sympy.Min)


# ---- integer code for sizes ----------------------------------------------------------------
def int_code(expr, names: dict | None = None) -> str:
    """A size or stride (sympy, in dims) as Python integer arithmetic over the dims' names."""
    return _int_code(sympy.sympify(expr), tuple((names or {}).items()))


@functools.lru_cache(maxsize=4096)
def _int_code(expr, names: tuple) -> str:
    """int_code, remembered: a workspace offset is the sum of the aligned sizes before it, so a
    driver prints the same terms again and again, and sympy's `together` on each was three
    quarters of lowering and printing the big MLP in a profile (printing its module in a warm
    first step: 0.035 s before, 0.021 s after)."""
    if expr.is_Integer:
        return str(int(expr))
    if expr.is_Symbol:
        return dict(names).get(expr, str(expr))
    if isinstance(expr, sympy.ceiling):
        num, den = _fraction(expr.args[0])
        return f"(-((-({_int_code(num, names)})) // {_int_code(den, names)}))"
    if isinstance(expr, sympy.floor):
        num, den = _fraction(expr.args[0])
        return f"(({_int_code(num, names)}) // {_int_code(den, names)})"
    num, den = _fraction(expr)
    if den != 1:
        return f"(({_int_code(num, names)}) // {_int_code(den, names)})"
    if expr.is_Add:
        return "(" + " + ".join(_int_code(a, names) for a in expr.args) + ")"
    if expr.is_Mul:
        return "*".join(_factor(a, names) for a in expr.args)
    if expr.is_Pow and expr.exp.is_Integer and expr.exp > 0:
        return "*".join([_factor(expr.base, names)] * int(expr.exp))
    raise ValueError(f"int_code: cannot print {expr} as integer code")


def _fraction(expr):
    """(numerator, denominator) of `expr` over one denominator (most sizes have none)."""
    if all(r.is_Integer for r in expr.atoms(sympy.Rational)) and \
            not any(p.exp.is_negative for p in expr.atoms(sympy.Pow)):
        return expr, sympy.Integer(1)
    return expr.as_numer_denom()  # (sympy's `together` gave the same, in polys: 5 ms a step)


def _factor(a, names: tuple) -> str:
    text = _int_code(a, names)
    return f"({text})" if a.is_Add else text


# ---- indices -------------------------------------------------------------------------------
class Params:
    """The integer parameters a kernel takes (extents, strides, offsets), each with the sympy
    expression the driver computes it from. Structural 0 and 1 stay literals in the kernel,
    where the compiler can use them (a stride of 1 vectorizes)."""

    def __init__(self):
        self.names: list[str] = []
        self.exprs: list = []
        self._by_expr: dict = {}

    def term(self, expr, hint: str, role=None) -> str:
        """The parameter holding `expr`; a 0 or 1 stays a literal. Every other size is a
        parameter, numbers included, so kernels of one structure are one function (shared
        across graphs through the cache) whatever their sizes. `role` says what a number is
        (an axis's extent, a buffer's stride along an axis): numbers of different roles are
        different parameters even where equal. A 512x512 weight's rows and columns had been
        one parameter, a 784x512 weight's two: the big MLP's first two layers were two
        functions, two compiles, where they are one."""
        expr = sympy.sympify(expr)
        if expr.is_Integer and int(expr) in (0, 1):
            return str(int(expr))
        key = (hint[0], expr, role if expr.is_Integer else None)
        if key not in self._by_expr:
            name = f"{hint}_{len(self.names)}"
            self.names.append(name)
            self.exprs.append(expr)
            self._by_expr[key] = name
        return self._by_expr[key]


def index(access, loop_vars, params: Params, base: str = "") -> str:
    """`buffer[offset + i0*s0 + ...]` as index code (the buffer's name is the caller's)."""
    terms = []
    if access.offset != 0:
        terms.append(params.term(access.offset, "o", (access.buffer, "offset")))
    for axis, (v, s) in enumerate(zip(loop_vars, access.strides)):
        if s == 0:
            continue
        terms.append(v if s == 1 else f"{v}*{params.term(s, 's', (access.buffer, axis))}")
    return " + ".join(terms) or "0"


def subscript(access, loop_vars, params: Params) -> str:
    """`index` as a subscript, unsigned where it is computed: Numba wraps a negative signed
    index around (x[-1] is the last element), and that branch on every access stops LLVM
    vectorizing a strided loop (a column sum of 256x512 took 41 us, against 11 unsigned).
    These indices are positions in a buffer, never negative."""
    text = index(access, loop_vars, params)
    return text if text.isidentifier() or text.isdigit() else f"np.uint64({text})"
