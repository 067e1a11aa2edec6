"""``CythonPrinter``: sympy expressions → Cython expressions over ``double`` (STYLE.md §4).

A subclass of sympy's C99 code printer (dispatch by ``_print_<Class>``) that emits the subset of
C that is also valid Cython: arithmetic, ``libc.math`` calls and conditional *expressions*
(``a if c else b``; Cython has no ``?:``). Everything is a ``double``:

- numbers are float literals (``2.0``, ``1.0/3.0``, ``0.1``: the shortest repr that round-trips);
- integer powers up to :data:`MAX_EXPANDED_POWER` become products (``x**2`` → ``x*x``,
  ``x**-2`` → ``1.0/(x*x)``), ``x**0.5`` → ``sqrt(x)``, other powers ``pow(x, e)``;
- ``pi`` → ``M_PI``, ``E`` → ``M_E``; ``Abs`` → ``fabs``; ``Min``/``Max`` → nested
  ``_sr_fmin``/``_sr_fmax`` (``templates/_sr_math.h``: NaN in, NaN out, like numpy's
  ``minimum``/``maximum``, where C's ``fmin``/``fmax`` drop a NaN); ``sign`` and
  ``Heaviside`` → helpers ``_sr_sign(x)`` and
  ``_sr_heaviside(x, h0)`` that the kernel template defines (NaN in, NaN out, like numpy);
- every symbol is printed through a name map. Generated names carry the reserved prefix
  ``_sr_``, so user names (``I``, ``E``, ``lambda``, ``beta``, ``r``) never clash with them or
  with Cython keywords. A symbol without a name is a :class:`~symrates.errors.CodegenError`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import sympy
from sympy.core.mul import _keep_coeff
from sympy.core.numbers import equal_valued
from sympy.printing.c import C99CodePrinter
from sympy.printing.precedence import PRECEDENCE, precedence

from ..errors import CodegenError

__all__ = ["CythonPrinter", "MAX_EXPANDED_POWER", "RESERVED_PREFIX"]

#: Prefix of every name in generated code.
RESERVED_PREFIX = "_sr_"
#: Integer powers ``|e| <= MAX_EXPANDED_POWER`` are printed as products.
MAX_EXPANDED_POWER = 4

#: Functions printed as ``libc.math`` calls (sympy class name → C name), except ``exp``: the
#: kernels' own ``_sr_exp`` (``templates/_sr_math.h``), which loops can vectorise.
_MATH_FUNCTIONS = {
    "Abs": "fabs", "exp": "_sr_exp", "log": "log", "sqrt": "sqrt",
    "sin": "sin", "cos": "cos", "tan": "tan", "asin": "asin", "acos": "acos", "atan": "atan",
    "atan2": "atan2", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "asinh": "asinh",
    "acosh": "acosh", "atanh": "atanh", "floor": "floor", "ceiling": "ceil", "erf": "erf",
    "erfc": "erfc", "expm1": "expm1", "log1p": "log1p", "hypot": "hypot",
}


class CythonPrinter(C99CodePrinter):
    """Print sympy expressions as Cython expressions of ``double`` values.

    Parameters
    ----------
    names : mapping
        ``{sympy.Symbol: name}`` for every symbol that may appear; names should start with
        :data:`RESERVED_PREFIX`.

    Raises
    ------
    CodegenError
        From :meth:`doprint`, for a symbol missing from ``names``, an unknown function, a
        delayed value or a complex number.

    Examples
    --------
    >>> import sympy
    >>> x, lam = sympy.symbols("x lambda")
    >>> p = CythonPrinter({x: "_sr_x0", lam: "_sr_p0"})
    >>> p.doprint(x**2 / lam + sympy.exp(-x) * sympy.pi)
    'M_PI*_sr_exp(-_sr_x0) + (_sr_x0*_sr_x0)/_sr_p0'
    """

    printmethod = "_cython"
    language = "Cython"
    # Only these two macros; libc.math's other M_* constants are printed as numbers.
    math_macros = {sympy.pi: "M_PI", sympy.E: "M_E"}
    _operators = {"and": "and", "or": "or", "not": "not "}
    _default_settings = dict(C99CodePrinter._default_settings, strict=True)

    def __init__(self, names: Mapping[sympy.Symbol, str], settings: dict | None = None) -> None:
        super().__init__(dict(settings or {}))
        self.names = dict(names)
        self.known_functions = {}

    # -- entry point ---------------------------------------------------------------------------
    def doprint(self, expr: sympy.Expr, assign_to: None = None) -> str:  # noqa: D401
        """Return the Cython expression of ``expr`` (one line)."""
        if assign_to is not None:
            raise CodegenError("CythonPrinter prints expressions only; assign in the template.")
        return self._print(sympy.sympify(expr))

    def parenthesize(self, item, level, strict=False):
        prec = self._precedence(item)
        if prec < level or (not strict and prec <= level):
            return f"({self._print(item)})"
        return self._print(item)

    def _precedence(self, item) -> int:
        """Precedence of ``item`` as printed: expanded powers and reciprocals are products."""
        if isinstance(item, sympy.Pow) and self._power_kind(item)[0] in ("product", "reciprocal"):
            return PRECEDENCE["Mul"]
        if item is sympy.S.Half:
            return PRECEDENCE["Atom"]
        return precedence(item)

    # -- symbols and numbers -------------------------------------------------------------------
    def _print_Symbol(self, expr: sympy.Symbol) -> str:
        try:
            return self.names[expr]
        except KeyError:
            known = ", ".join(sorted(s.name for s in self.names)[:12])
            raise CodegenError(
                f"Symbol {expr.name!r} has no name in the generated code (known: {known}). "
                "This is a bug in symrates' lowering: please report it with the model."
            ) from None

    _print_Dummy = _print_Symbol

    def _print_Integer(self, expr: sympy.Integer) -> str:
        return f"{int(expr)}.0"

    def _print_Zero(self, expr) -> str:
        return "0.0"

    def _print_One(self, expr) -> str:
        return "1.0"

    def _print_NegativeOne(self, expr) -> str:
        return "-1.0"

    def _print_Half(self, expr) -> str:
        return "0.5"

    def _print_Rational(self, expr: sympy.Rational) -> str:
        return f"{expr.p}.0/{expr.q}.0"

    def _print_Float(self, expr: sympy.Float) -> str:
        value = float(expr)
        if math.isnan(value):
            return "NAN"
        if math.isinf(value):
            return "INFINITY" if value > 0 else "-INFINITY"
        return repr(value)

    def _print_NumberSymbol(self, expr) -> str:
        if expr in self.math_macros:
            return self.math_macros[expr]
        return repr(float(expr))

    _print_Pi = _print_NumberSymbol
    _print_Exp1 = _print_NumberSymbol
    _print_EulerGamma = _print_NumberSymbol
    _print_Catalan = _print_NumberSymbol
    _print_GoldenRatio = _print_NumberSymbol
    _print_TribonacciConstant = _print_NumberSymbol

    def _print_BooleanTrue(self, expr) -> str:
        return "True"

    def _print_BooleanFalse(self, expr) -> str:
        return "False"

    def _print_ImaginaryUnit(self, expr) -> str:
        raise CodegenError(
            "The imaginary unit appeared in an expression; kernels compute with real doubles "
            "only. Declare I as a variable or parameter if it is a name in your model."
        )

    def _print_ComplexInfinity(self, expr) -> str:
        raise CodegenError(
            "An expression evaluates to complex infinity (zoo), e.g. a division by a literal "
            "zero; fix the equation."
        )

    def _print_NaN(self, expr) -> str:
        return "NAN"

    def _print_Infinity(self, expr) -> str:
        return "INFINITY"

    def _print_NegativeInfinity(self, expr) -> str:
        return "-INFINITY"

    # -- products and powers -------------------------------------------------------------------
    def _print_Mul(self, expr: sympy.Mul) -> str:
        # As sympy's CodePrinter, but every factor that is not an atom or a function call is
        # parenthesized, so the grouping is the same as in the numpy reference:
        # ``-x**3/3`` → ``-(1.0/3.0)*(x*x*x)``, not ``-1.0/3.0*x*x*x``.
        c, rest = expr.as_coeff_Mul()
        sign = ""
        if c < 0:
            expr = _keep_coeff(-c, rest)
            sign = "-"
        factors = expr.as_ordered_factors() if self.order not in ("old", "none") else (
            sympy.Mul.make_args(expr))
        num, den = [], []
        for f in factors:
            if f.is_commutative and f.is_Pow and f.exp.is_Rational and f.exp.is_negative:
                den.append(f.base if f.exp == -1 else sympy.Pow(f.base, -f.exp, evaluate=False))
            else:
                num.append(f)
        level = PRECEDENCE["Mul"]
        num_str = "*".join(self.parenthesize(f, level) for f in num) if num else "1.0"
        if not den:
            return sign + num_str
        if len(den) == 1:
            return f"{sign}{num_str}/{self.parenthesize(den[0], level)}"
        return f"{sign}{num_str}/({'*'.join(self.parenthesize(f, level) for f in den)})"


    @staticmethod
    def _power_kind(expr: sympy.Pow) -> tuple[str, int]:
        e = expr.exp
        if e.is_Number:
            for k in range(1, MAX_EXPANDED_POWER + 1):
                if equal_valued(e, k):
                    return ("product", k) if k > 1 else ("identity", 1)
                if equal_valued(e, -k):
                    return "reciprocal", k
            if equal_valued(e, 0.5):
                return "sqrt", 1
            if equal_valued(e, -0.5):
                return "reciprocal", 0
            if equal_valued(e, 0):
                return "one", 0
        return "pow", 0

    def _print_Pow(self, expr: sympy.Pow) -> str:
        kind, k = self._power_kind(expr)
        base = expr.base
        if kind == "identity":
            return self._print(base)
        if kind == "one":
            return "1.0"
        if kind == "sqrt":
            return f"sqrt({self._print(base)})"
        if kind == "product":
            factor = self.parenthesize(base, PRECEDENCE["Mul"], strict=False)
            return "*".join([factor] * k)
        if kind == "reciprocal":
            if k == 0:
                return f"1.0/sqrt({self._print(base)})"
            if k == 1:
                return "1.0/" + self.parenthesize(base, PRECEDENCE["Mul"], strict=False)
            return f"1.0/({self._print(sympy.Pow(base, k, evaluate=False))})"
        return f"pow({self._print(base)}, {self._print(expr.exp)})"

    # -- functions -----------------------------------------------------------------------------
    def _print_Function(self, expr) -> str:
        name = type(expr).__name__
        if name in _MATH_FUNCTIONS:
            args = ", ".join(self._print(a) for a in expr.args)
            return f"{_MATH_FUNCTIONS[name]}({args})"
        if name == "Delay":
            raise CodegenError(
                f"The delayed value {expr} cannot be printed as an expression: delayed values "
                "are read from histories (lower() turns them into delayed couplings)."
            )
        raise CodegenError(
            f"The function {name!r} in {expr} has no compiled equivalent. Supported: "
            f"{', '.join(sorted(_MATH_FUNCTIONS))}, sign, Heaviside, Min, Max."
        )

    def _print_math_func(self, expr, nest=False, known=None) -> str:
        return self._print_Function(expr)

    def _print_sign(self, expr) -> str:
        return f"_sr_sign({self._print(expr.args[0])})"

    def _print_Heaviside(self, expr) -> str:
        x = expr.args[0]
        h0 = expr.args[1] if len(expr.args) > 1 else sympy.S.Half
        return f"_sr_heaviside({self._print(x)}, {self._print(h0)})"

    def _nested(self, name: str, args) -> str:
        printed = [self._print(a) for a in args]
        out = printed[-1]
        for p in reversed(printed[:-1]):
            out = f"{name}({p}, {out})"
        return out

    def _print_Min(self, expr) -> str:
        return self._nested("_sr_fmin", expr.args)

    def _print_Max(self, expr) -> str:
        return self._nested("_sr_fmax", expr.args)

    # -- conditionals --------------------------------------------------------------------------
    def _print_Piecewise(self, expr) -> str:
        if expr.args[-1].cond != sympy.true:
            raise CodegenError(
                f"The piecewise expression {expr} has no default branch (condition True); add "
                "an 'otherwise' value."
            )
        out = self._print(expr.args[-1].expr)
        for e, c in reversed(expr.args[:-1]):
            out = f"({self._print(e)} if {self._print(c)} else {out})"
        return out

    def _print_ITE(self, expr) -> str:
        return self._print(expr.rewrite(sympy.Piecewise, deep=False))

    def _print_Relational(self, expr) -> str:
        lhs = self.parenthesize(expr.lhs, PRECEDENCE["Relational"] + 1)
        rhs = self.parenthesize(expr.rhs, PRECEDENCE["Relational"] + 1)
        return f"{lhs} {expr.rel_op} {rhs}"

    def _print_Mod(self, expr) -> str:  # pragma: no cover - not produced by the parser
        a, b = (self._print(x) for x in expr.args)
        # Python's (and sympy's) modulo: the result has the sign of the divisor.
        return f"({a} - {b}*floor({a}/{b}))"


# C99CodePrinter binds its math functions as class attributes; route them through ours.
for _name in ("Abs", "Sqrt", "exp", "exp2", "expm1", "log", "log10", "log2", "log1p", "Cbrt",
              "hypot", "fma", "loggamma", "sin", "cos", "tan", "asin", "acos", "atan", "atan2",
              "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "erf", "erfc", "gamma",
              "ceiling", "floor"):
    setattr(CythonPrinter, f"_print_{_name}", CythonPrinter._print_Function)
del _name
