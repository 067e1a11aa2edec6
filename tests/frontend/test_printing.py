"""Tests of symrates.frontend.printing: sympy -> equation text that parses back identically."""

import random

import pytest
import sympy

from symrates.errors import ModelDefinitionError
from symrates.frontend.parsing import TIME, Delay, parse_equation, parse_expression
from symrates.frontend.printing import EquationPrinter, equation_text, expression_text

NAMES = ["x", "y", "a", "b", "d", "tau", "I", "E", "N", "S", "Q", "beta", "gamma", "lambda",
         "None", "if", "é"]
SYMS = {name: sympy.Symbol(name, real=True) for name in NAMES}
x, y, a, b, d, tau = (SYMS[n] for n in ("x", "y", "a", "b", "d", "tau"))
lam, I_, E_, N_ = SYMS["lambda"], SYMS["I"], SYMS["E"], SYMS["N"]


def parse(text, symbols=SYMS):
    return parse_expression(text, symbols, path="test")


# -- exact strings -----------------------------------------------------------------------------
@pytest.mark.parametrize("expr, text", [
    (x**2 + sympy.Float(0.1), "x**2 + 0.1"),
    (sympy.Float(0.1) * x, "0.1*x"),
    (sympy.Float(1e-20) * x, "1e-20*x"),
    (sympy.Float(2.0) * x, "2.0*x"),
    (sympy.Float(-2.5) * x, "-2.5*x"),
    (sympy.Float(1 / 3), "0.3333333333333333"),
    (sympy.Rational(1, 3), "1/3"),
    (x / 3, "x/3"),
    (-sympy.Rational(3, 2) * x, "-3*x/2"),
    (-x / tau, "-x/tau"),
    (sympy.sqrt(x), "sqrt(x)"),
    (x ** sympy.Rational(1, 3), "x**(1/3)"),
    (sympy.atan(x), "arctan(x)"),
    (sympy.asin(x) + sympy.acos(y), "arccos(y) + arcsin(x)"),
    (sympy.atan2(y, x), "arctan2(y, x)"),
    (sympy.Abs(x), "abs(x)"),
    (sympy.sign(x), "sign(x)"),
    (sympy.Heaviside(x, 0), "heaviside(x)"),
    (sympy.Heaviside(x), "heaviside(x, 1/2)"),
    (sympy.Heaviside(x, 1), "heaviside(x, 1)"),
    (sympy.Min(x, y), "min(x, y)"),
    (sympy.Max(x, y, a), "max(a, x, y)"),
    (Delay(x, d), "past(x, d)"),
    (Delay(x + y, 2), "past(x + y, 2)"),
    (sympy.exp(-x) + sympy.log(y), "log(y) + exp(-x)"),
    (1 / (1 + sympy.exp(-x)), "1/(1 + exp(-x))"),
    (sympy.E * x, "exp(1)*x"),
    (2 * sympy.pi * x, "2*pi*x"),
    (lam * I_, "I*lambda"),
    (TIME * x, "t*x"),
])
def test_exact_text(expr, text):
    assert expression_text(expr) == text


def test_printer_dispatches_by_class():
    printer = EquationPrinter()
    assert printer.doprint(sympy.Float(0.1)) == "0.1"
    assert printer.doprint(Delay(x, d)) == "past(x, d)"  # not Delay's own _sympystr hook
    assert EquationPrinter.printmethod != "_sympystr"


@pytest.mark.parametrize("kind, target, rhs, text", [
    ("ode", "x", -x / tau, "x' = -x/tau"),
    ("algebraic", "a", x**2 + sympy.Rational(1, 2), "a = x**2 + 1/2"),
    ("ode", "lambda", -lam, "lambda' = -lambda"),
])
def test_equation_text(kind, target, rhs, text):
    assert equation_text(kind, target, rhs) == text
    parsed = parse_equation(text, SYMS, path="test")
    assert (parsed.kind, parsed.target, parsed.rhs) == (kind, target, rhs)


# -- round trips -------------------------------------------------------------------------------
ROUND_TRIPS = [
    x + y**2, -x / 2, sympy.Rational(-3, 2) * x, sympy.Float(0.1) * x - sympy.Float(1e-20) * y,
    x ** sympy.Rational(1, 3), 1 / sympy.sqrt(x), y * x ** sympy.Float(-0.5), (-2) ** x,
    sympy.Rational(2, 3) ** x, sympy.exp(-x) / (1 + sympy.exp(-x)), sympy.Heaviside(x),
    sympy.Heaviside(x, 0), sympy.Heaviside(x, 1), sympy.Min(x, y, 1), sympy.Max(a, b),
    Delay(x, d) + Delay(x + y, 2), Delay(Delay(x, 1), a * b), sympy.atan2(y, x),
    sympy.atan(x) * sympy.asin(y) * sympy.acos(a), sympy.log(x, 10), sympy.Abs(x) * sympy.sign(y),
    sympy.E * x, sympy.pi * 2 * x, lam * I_ * E_ * N_ * SYMS["None"] * SYMS["if"], -x**y, (-x) ** y,
    x**-2, -1 / x, sympy.Float(2.0) / x, sympy.Float(-2.5) ** x, (x + y) ** -2 * (a - b),
    sympy.tanh(x) - sympy.cosh(y) + sympy.sinh(a) * sympy.tan(b) * sympy.sin(d) * sympy.cos(x),
    TIME * x, sympy.exp(x) ** 2, sympy.Integer(10) ** 30 * x, sympy.Float(1.7976931348623157e308),
    sympy.Float(5e-324) * x, sympy.Float(-0.0) + x, SYMS["é"] ** 2, sympy.Integer(-7),
    sympy.sin(TIME - 1) * Delay(x, tau) / tau, x ** (y + 1) / (x - 1) ** sympy.Rational(3, 2),
]


@pytest.mark.parametrize("expr", ROUND_TRIPS, ids=[str(e) for e in ROUND_TRIPS])
def test_round_trip(expr):
    assert parse(expression_text(expr)) == expr


def random_expression(rng, depth):
    leaves = [x, y, a, b, lam, I_, E_, TIME]
    if depth == 0 or rng.random() < 0.25:
        leaf = rng.choice(leaves)
        coefficient = rng.choice([1, 1, 2, sympy.Rational(1, 3), sympy.Float(0.1),
                                  sympy.Float(-2.5), -1])
        return coefficient * leaf
    left, right = random_expression(rng, depth - 1), random_expression(rng, depth - 1)
    op = rng.choice(["add", "sub", "mul", "div", "pow", "fun", "fun2", "delay"])
    if op == "add":
        return left + right
    if op == "sub":
        return left - right
    if op == "mul":
        return left * right
    if op == "div":
        return left / right
    if op == "pow":
        return left ** rng.choice([2, -1, sympy.Rational(1, 2), sympy.Float(1.5), right])
    if op == "fun":
        fun = rng.choice([sympy.exp, sympy.log, sympy.sin, sympy.cos, sympy.tan, sympy.atan,
                          sympy.asin, sympy.acos, sympy.sinh, sympy.cosh, sympy.tanh, sympy.Abs,
                          sympy.sign, sympy.sqrt, lambda v: sympy.Heaviside(v, 0),
                          lambda v: 1 / (1 + sympy.exp(-v))])
        return fun(left)
    if op == "fun2":
        fun = rng.choice([sympy.atan2, sympy.Min, sympy.Max, sympy.Heaviside])
        return fun(left, right)
    return Delay(left, abs(rng.choice([d, 2, sympy.Float(0.5), a * d])))


def rebuild(expr):
    """``expr`` rebuilt bottom-up with sympy's automatic evaluation."""
    return expr.func(*map(rebuild, expr.args)) if expr.args else expr


def test_rebuild_detects_unevaluated_forms():
    assert rebuild(x + y**2) == x + y**2
    assert rebuild(sympy.Mul(-1, x + y, evaluate=False)) != sympy.Mul(-1, x + y, evaluate=False)


@pytest.mark.parametrize("seed", range(40))
def test_round_trip_random(seed):
    rng = random.Random(seed)
    checked = 0
    while checked < 10:
        try:
            expr = random_expression(rng, 4)
        except ValueError:  # sympy refuses e.g. max or heaviside of a complex number
            continue
        if expr.has(sympy.I, sympy.zoo, sympy.nan, sympy.oo, -sympy.oo) or rebuild(expr) != expr:
            # not real, or holds a form sympy's evaluation leaves only internally (such as
            # Mul(-1, a + b)); text is read back with evaluation, so it cannot reproduce it
            continue
        text = expression_text(expr)
        assert parse(text) == expr, text
        checked += 1


@pytest.mark.parametrize("text", [
    "-r/tau + I^2", "a + b^2", "lambda*E^2/2", "sigmoid(x - 1)", "x(t - d) + past(x + y, 2)",
    "heaviside(x) + max(a, b, 1)", "log10(x) + arctan2(y, x)", "0.1*x + 1/3", "exp(1)*pi",
    "2^-1*x", "abs(min(x, y))",
])
def test_text_round_trip(text):
    symbols = {**SYMS, "r": sympy.Symbol("r", real=True)}
    first = parse(text, symbols)
    assert parse(expression_text(first), symbols) == first


# -- what cannot be written ----------------------------------------------------------------------
@pytest.mark.parametrize("expr, match", [
    (sympy.I * x, r"Cannot write ImaginaryUnit 'I'"),
    (sympy.oo, r"Cannot write Infinity 'oo'"),
    (sympy.zoo * x, r"Cannot write ComplexInfinity"),
    (sympy.nan, r"Cannot write NaN"),
    (sympy.Function("f")(x), r"Cannot write f 'f\(x\)'"),
    (sympy.gamma(x), r"Cannot write gamma 'gamma\(x\)'"),
    (sympy.Piecewise((x, x > 0), (0, True)), r"Cannot write Piecewise"),
    (sympy.Derivative(sympy.Function("f")(x), x), r"Cannot write Derivative"),
    (x < y, r"Cannot write StrictLessThan"),
    (sympy.EulerGamma * x, r"Cannot write EulerGamma"),
    (sympy.Symbol("pc/v") + 1, r"the symbol name 'pc/v' is not an identifier"),
    (sympy.Symbol("x") + x, r"2 different symbols are named 'x'"),
    (sympy.Symbol("t") * x, r"the symbol 't' is not symrates' time symbol TIME"),
    (sympy.Symbol("pi") + sympy.pi, r"both the constant pi and a symbol 'pi' occur"),
    (sympy.Symbol("exp") * sympy.exp(x), r"the symbol 'exp' has the name of a function used"),
    (sympy.Symbol("past") + Delay(x, 1), r"the symbol 'past' has the name of a function used"),
    (sympy.Symbol("sqrt") + sympy.sqrt(x), r"the symbol 'sqrt' has the name of a function used"),
    (sympy.Symbol("sqrt") / sympy.sqrt(x), r"the symbol 'sqrt' has the name of a function used"),
    (sympy.Symbol("exp") + sympy.E, r"the symbol 'exp' has the name of a function used"),
])
def test_unprintable(expr, match):
    with pytest.raises(ModelDefinitionError, match=match):
        expression_text(expr)


def test_symbol_named_like_an_unused_function_is_printable():
    exp, sqrt = sympy.Symbol("exp", real=True), sympy.Symbol("sqrt", real=True)
    expr = exp * sympy.sin(sqrt) + x**2
    assert parse(expression_text(expr), {"exp": exp, "sqrt": sqrt, "x": x}) == expr


def test_declared_pi_alone_is_printable():
    pi = sympy.Symbol("pi", real=True)
    assert expression_text(2 * pi) == "2*pi"
    assert parse("2*pi", {"pi": pi}) == 2 * pi


def test_equation_text_errors():
    with pytest.raises(ModelDefinitionError, match=r"Unknown equation kind 'dde'; allowed: 'ode'"):
        equation_text("dde", "x", x)
    with pytest.raises(ModelDefinitionError, match=r"The target 'pc/x' is not an identifier"):
        equation_text("ode", "pc/x", x)
    with pytest.raises(ModelDefinitionError, match=r"Cannot write ImaginaryUnit"):
        equation_text("algebraic", "a", sympy.I)
