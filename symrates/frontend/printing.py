"""sympy to equation text that :mod:`symrates.frontend.parsing` reads back identically.

Only what the parser accepts can be printed: numbers (finite floats, integers, rationals), symbols
with identifier names, ``pi``, ``exp(1)``, ``+ - * / **``, the whitelisted functions and delays.
Anything else raises :class:`~symrates.errors.ModelDefinitionError` instead of printing text that
would read back differently.
"""

from __future__ import annotations

import sympy
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from symrates.errors import ModelDefinitionError
from symrates.frontend.parsing import FUNCTIONS, TIME, Delay

__all__ = ["EquationPrinter", "expression_text", "equation_text"]

#: sympy function class -> its name in equation text.
_FUNCTION_NAMES = {
    sympy.exp: "exp", sympy.log: "log", sympy.sin: "sin", sympy.cos: "cos", sympy.tan: "tan",
    sympy.asin: "arcsin", sympy.acos: "arccos", sympy.atan: "arctan", sympy.atan2: "arctan2",
    sympy.sinh: "sinh", sympy.cosh: "cosh", sympy.tanh: "tanh", sympy.Abs: "abs",
    sympy.sign: "sign", sympy.Heaviside: "heaviside", sympy.Min: "min", sympy.Max: "max",
    Delay: "past",
}
_ATOMS = (sympy.Symbol, sympy.Rational, sympy.Float, sympy.core.numbers.Pi,
          sympy.core.numbers.Exp1)
_OPERATIONS = (sympy.Add, sympy.Mul, sympy.Pow, *_FUNCTION_NAMES)


class EquationPrinter(StrPrinter):
    """A :class:`~sympy.printing.str.StrPrinter` writing symrates equation text.

    Floats print as ``repr(float(x))`` (shortest round trip), rationals as ``p/q``, powers as
    ``**``; ``Abs``, ``atan``, ``Heaviside``, ``Min``, ``Max`` and :class:`Delay` print as ``abs``,
    ``arctan``, ``heaviside``, ``min``, ``max`` and ``past(x, d)``; ``E`` prints as ``exp(1)``.
    Use :func:`expression_text`, which also checks that the expression can be written.

    Examples
    --------
    >>> x = sympy.Symbol("x", real=True)
    >>> EquationPrinter().doprint(sympy.atan(x) + 0.1)
    'arctan(x) + 0.1'
    """

    printmethod = "_symrates_text"  # dispatch only by _print_<Class>, never by objects' own hooks

    def _print_Float(self, expr: sympy.Float) -> str:
        return repr(float(expr))

    def _print_Exp1(self, expr) -> str:
        return "exp(1)"

    def _print_Pi(self, expr) -> str:
        return "pi"

    def _print_Symbol(self, expr: sympy.Symbol) -> str:
        return expr.name

    def _print_Mul(self, expr: sympy.Mul) -> str:
        # The text is read back left to right, and sympy distributes a number over a sum when
        # the two meet alone (2*(a + b) -> 2*a + 2*b). So a number never multiplies a lone sum
        # here: a non-sum factor comes first, else the number comes last; each divisor is its
        # own "/d" (StrPrinter's x/(2*(a + b)) would read back as x/(2*a + 2*b)).
        coeff = expr.as_coeff_Mul()[0]
        num, den = [], []
        for item in expr.as_ordered_factors():
            if item.is_Number:
                continue
            if item.is_Pow and item.exp.as_coeff_Mul()[0] < 0:
                exp = -item.exp
                den.append(item.base if exp == 1 else sympy.Pow(item.base, exp, evaluate=False))
            else:
                num.append(item)
        num.sort(key=lambda item: item.is_Add)  # stable: the first non-sum factor leads
        if coeff.is_Rational:
            magnitude = str(abs(coeff.p)) if abs(coeff.p) != 1 else None
            divisor = str(coeff.q) if coeff.q != 1 else None
        else:
            magnitude, divisor = repr(abs(float(coeff))), None
        prec = PRECEDENCE["Mul"]
        factors = [self.parenthesize(item, prec, strict=False) for item in num]
        divisors = "".join("/" + self.parenthesize(item, prec, strict=False) for item in den)
        divisors += f"/{divisor}" if divisor else ""
        sign = "-" if coeff < 0 else ""
        if num and all(item.is_Add for item in num):
            text = "*".join(factors) + divisors + (f"*{magnitude}" if magnitude else "")
            return f"{sign}({text})" if sign else text
        return sign + ("*".join(([magnitude] if magnitude else []) + factors) or "1") + divisors

    def _call(self, name: str, args) -> str:
        return f"{name}({self.stringify(args, ', ')})"

    def _print_Function(self, expr) -> str:
        return self._call(_FUNCTION_NAMES[type(expr)], expr.args)

    def _print_Heaviside(self, expr) -> str:
        # heaviside(x) is Heaviside(x, 0); any other value at 0 is written out.
        value_at_zero = expr.args[1] if len(expr.args) > 1 else sympy.S.Half
        args = expr.args[:1] if value_at_zero == 0 else (expr.args[0], value_at_zero)
        return self._call("heaviside", args)

    def _print_Min(self, expr) -> str:
        return self._call("min", expr.args)

    def _print_Max(self, expr) -> str:
        return self._call("max", expr.args)

    def _print_Delay(self, expr: Delay) -> str:
        return self._call("past", expr.args)


def _check_printable(expr: sympy.Basic) -> None:
    """Raise ModelDefinitionError unless every node of ``expr`` has a form in equation text."""
    functions_used, names = set(), {}
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, sympy.Symbol):
            names.setdefault(node.name, set()).add(node)
        if isinstance(node, _ATOMS) or type(node) in _OPERATIONS:
            functions_used.add(_FUNCTION_NAMES.get(type(node)))
            if node is sympy.E or (node.is_Pow and node.exp in (sympy.S.Half, -sympy.S.Half)):
                functions_used.add("exp" if node is sympy.E else "sqrt")  # exp(1), sqrt(x)
            continue
        raise ModelDefinitionError(
            f"Cannot write {type(node).__name__} '{node}' of the expression {expr} as equation "
            "text; allowed are finite numbers, symbols, pi, exp(1), + - * / **, the functions "
            f"{', '.join(FUNCTIONS)} and delays past(x, d). Rewrite the expression with these.")
    for name, symbols in names.items():
        if not name.isidentifier():
            problem = f"the symbol name '{name}' is not an identifier"
        elif len(symbols) > 1:
            problem = f"{len(symbols)} different symbols are named '{name}'"
        elif name == "t" and symbols != {TIME}:
            problem = "the symbol 't' is not symrates' time symbol TIME (t is reserved)"
        elif name == "pi" and expr.has(sympy.pi):
            problem = "both the constant pi and a symbol 'pi' occur"
        elif name in functions_used:
            problem = f"the symbol '{name}' has the name of a function used in it"
        else:
            continue
        raise ModelDefinitionError(
            f"Cannot write the expression {expr} as equation text: {problem}, so the text would "
            "read back differently. Rename the symbol.")


def expression_text(expr: sympy.Expr) -> str:
    """Write a sympy expression as equation text.

    ``parse_expression(expression_text(e), symbols)`` returns ``e`` exactly (structural equality)
    when ``symbols`` declares the symbols of ``e``, its floats are double precision, and it is
    in sympy's evaluated form (rebuilding any subexpression from its arguments gives it back;
    forms such as ``Mul(-1, a + b, evaluate=False)`` read back evaluated, as ``-a - b``).

    Parameters
    ----------
    expr : sympy.Expr
        The expression.

    Returns
    -------
    str

    Raises
    ------
    ModelDefinitionError
        If ``expr`` holds something equation text cannot express (complex or non-finite numbers,
        unlisted functions, relations, symbol names that are not identifiers or that clash with
        ``t``, ``pi`` or a function used in the expression).

    Examples
    --------
    >>> x, lam = sympy.symbols("x lambda", real=True)
    >>> expression_text(sympy.Rational(1, 2) * lam * sympy.Abs(x) + 0.25)
    'lambda*abs(x)/2 + 0.25'
    """
    expr = sympy.sympify(expr)
    _check_printable(expr)
    return EquationPrinter().doprint(expr)


def equation_text(kind: str, target: str, rhs: sympy.Expr) -> str:
    """Write an equation as text: ``"x' = ..."`` (``kind="ode"``) or ``"a = ..."`` (algebraic).

    Parameters
    ----------
    kind : {"ode", "algebraic"}
        The kind of equation, as in :class:`~symrates.frontend.parsing.ParsedEquation`.
    target : str
        The variable on the left-hand side.
    rhs : sympy.Expr
        The right-hand side.

    Returns
    -------
    str

    Raises
    ------
    ModelDefinitionError
        For an unknown ``kind``, a target that is not an identifier, or an ``rhs`` that
        :func:`expression_text` cannot write.

    Examples
    --------
    >>> r, tau = sympy.symbols("r tau", real=True)
    >>> equation_text("ode", "r", -r / tau)
    "r' = -r/tau"
    """
    if kind not in ("ode", "algebraic"):
        raise ModelDefinitionError(f"Unknown equation kind {kind!r}; allowed: 'ode', 'algebraic'.")
    if not target.isidentifier():
        raise ModelDefinitionError(f"The target {target!r} is not an identifier; rename it.")
    lhs = f"{target}'" if kind == "ode" else target
    return f"{lhs} = {expression_text(rhs)}"
