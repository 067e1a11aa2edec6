"""Tests of symrates.frontend.parsing: equation text -> sympy, without eval."""

import builtins
import random
import re

import pytest
import sympy

from symrates.errors import EquationParseError, ModelDefinitionError
from symrates.frontend.parsing import (
    FUNCTIONS,
    TIME,
    Delay,
    ParsedEquation,
    parse_equation,
    parse_expression,
)

NAMES = ["x", "y", "a", "b", "d", "r", "tau", "I", "E", "N", "S", "Q", "beta", "gamma", "lambda",
         "None", "sign_", "é"]
SYMS = {name: sympy.Symbol(name, real=True) for name in NAMES}
x, y, a, b, d, r, tau = (SYMS[n] for n in ("x", "y", "a", "b", "d", "r", "tau"))


def expr(text, symbols=SYMS):
    return parse_expression(text, symbols, path="net/pop/op")


def eq(text, symbols=SYMS):
    return parse_equation(text, symbols, path="net/pop/op")


# -- left-hand sides ---------------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "x' = -x/tau + a", "x'=-x/tau+a", "  x '  =  -x / tau + a  ", "d/dt * x = -x/tau + a",
    "d/dt x = -x/tau + a", "d / dt*x = -x/tau + a", "d/dt   x=-x/tau + a",
])
def test_ode_forms(text):
    parsed = eq(text)
    assert parsed == ParsedEquation(kind="ode", target="x", rhs=-x / tau + a, text=text)


def test_algebraic():
    parsed = eq("a = x^2 + y")
    assert (parsed.kind, parsed.target, parsed.rhs) == ("algebraic", "a", x**2 + y)
    assert parsed.text == "a = x^2 + y"


def test_parsed_equation_is_frozen():
    parsed = eq("a = x")
    with pytest.raises(AttributeError):
        parsed.rhs = y


@pytest.mark.parametrize("text", ["lambda' = -lambda", "d/dt lambda = -lambda",
                                  "d/dt * lambda = -lambda"])
def test_keyword_target(text):
    parsed = eq(text)
    assert (parsed.kind, parsed.target, parsed.rhs) == ("ode", "lambda", -SYMS["lambda"])


def test_targets_named_d_and_dt():
    syms = {"d": d, "dt": sympy.Symbol("dt", real=True)}
    assert eq("d = 2*dt", syms).rhs == 2 * syms["dt"]
    assert eq("dt' = -d", syms).target == "dt"
    assert eq("d/dt d = 1", syms).target == "d"


def test_multiline_equation():
    assert eq("x' = -x/tau\n    + a").rhs == -x / tau + a


# -- arithmetic --------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("a + b^2", a + b**2),
    ("a + b**2", a + b**2),
    ("-a^2", -(a**2)),
    ("a^b^2", a ** (b**2)),
    ("2*a^2", 2 * a**2),
    ("a^-1", 1 / a),
    ("(a + b)^2", (a + b) ** 2),
    ("a - b - x", a - b - x),
    ("a / b / x", a / (b * x)),
    ("+a", a),
    ("-(-a)", a),
])
def test_operators_and_caret_precedence(text, expected):
    assert expr(text) == expected


def test_rationals_are_exact():
    half = expr("1/2")
    assert half == sympy.Rational(1, 2) and isinstance(half, sympy.Rational)
    assert expr("x/3") == sympy.Rational(1, 3) * x
    assert expr("2/4*x") == x / 2
    assert expr("2^-2") == sympy.Rational(1, 4)
    assert expr("12345678901234567890") == sympy.Integer(12345678901234567890)


def test_floats_are_doubles():
    value = expr("0.1")
    assert isinstance(value, sympy.Float) and value == sympy.Float(0.1) and float(value) == 0.1
    assert expr("1e-3*x") == sympy.Float(1e-3) * x
    assert expr("0.5*x") != x / 2  # a float stays a float


@pytest.mark.parametrize("name", ["I", "E", "N", "S", "Q", "beta", "gamma", "lambda", "None"])
def test_declared_names_are_plain_symbols(name):
    value = expr(name)
    assert value is SYMS[name]
    assert expr(f"{name}^2") == SYMS[name] ** 2
    assert expr(f"2*{name} + {name}") == 3 * SYMS[name]


def test_I_and_E_are_not_sympy_constants():
    assert expr("I") != sympy.I and expr("I^2") != -1
    assert expr("E") != sympy.E and not expr("E*x").has(sympy.E)
    assert expr("lambda*beta*gamma*S*N*Q").free_symbols == {
        SYMS[n] for n in ("lambda", "beta", "gamma", "S", "N", "Q")}


def test_pi_constant_and_declared_pi():
    assert expr("2*pi") == 2 * sympy.pi
    pi = sympy.Symbol("pi", real=True)
    assert expr("2*pi", {"pi": pi}) == 2 * pi
    assert not expr("2*pi", {"pi": pi}).has(sympy.pi)


def test_time():
    assert expr("t") is TIME and TIME.is_real
    assert expr("sin(t)*x") == sympy.sin(TIME) * x
    assert expr("t", {"t": sympy.Symbol("t")}) is TIME  # t is reserved: always TIME


def test_unicode_name():
    assert expr("é + 1") == SYMS["é"] + 1


# -- functions ---------------------------------------------------------------------------------
FUNCTION_CASES = {
    "exp": ("exp(x)", sympy.exp(x)),
    "log": ("log(x)", sympy.log(x)),
    "log10": ("log10(x)", sympy.log(x) / sympy.log(10)),
    "sqrt": ("sqrt(x)", sympy.sqrt(x)),
    "sin": ("sin(x)", sympy.sin(x)),
    "cos": ("cos(x)", sympy.cos(x)),
    "tan": ("tan(x)", sympy.tan(x)),
    "arcsin": ("arcsin(x)", sympy.asin(x)),
    "arccos": ("arccos(x)", sympy.acos(x)),
    "arctan": ("arctan(x)", sympy.atan(x)),
    "arctan2": ("arctan2(y, x)", sympy.atan2(y, x)),
    "sinh": ("sinh(x)", sympy.sinh(x)),
    "cosh": ("cosh(x)", sympy.cosh(x)),
    "tanh": ("tanh(x)", sympy.tanh(x)),
    "abs": ("abs(x)", sympy.Abs(x)),
    "sign": ("sign(x)", sympy.sign(x)),
    "heaviside": ("heaviside(x)", sympy.Heaviside(x, 0)),
    "sigmoid": ("sigmoid(x)", 1 / (1 + sympy.exp(-x))),
    "min": ("min(x, y, a)", sympy.Min(x, y, a)),
    "max": ("max(x, y)", sympy.Max(x, y)),
}


def test_every_whitelisted_function_is_tested():
    assert set(FUNCTION_CASES) == set(FUNCTIONS)


@pytest.mark.parametrize("name", sorted(FUNCTION_CASES))
def test_function(name):
    text, expected = FUNCTION_CASES[name]
    assert expr(text) == expected
    assert expr(text.replace("(", "( ").replace(")", " )")) == expected


def test_sigmoid_is_expanded():
    value = expr("sigmoid(2*x)")
    assert value == 1 / (1 + sympy.exp(-2 * x))
    assert {type(f) for f in value.atoms(sympy.Function)} == {sympy.exp}


def test_heaviside_value_at_zero():
    assert expr("heaviside(x)").subs(x, 0) == 0
    assert expr("heaviside(x, 1/2)") == sympy.Heaviside(x, sympy.S.Half)
    assert expr("heaviside(x, 1)").subs(x, 0) == 1


def test_functions_of_numbers_stay_exact():
    assert expr("exp(1)") == sympy.E
    assert expr("sqrt(4)") == 2 and expr("sqrt(2)") == sympy.sqrt(2)
    assert expr("max(1, 2, 1/3)") == 2
    assert expr("cos(pi)") == -1


# -- delays ------------------------------------------------------------------------------------
def test_delay_forms():
    assert expr("x(t - d)") == Delay(x, d)
    assert expr("past(x, d)") == Delay(x, d)
    assert expr("x(t-2)") == Delay(x, 2)
    assert expr("past(x + y, 2*d)") == Delay(x + y, 2 * d)
    assert expr("x(t - d - 1)") == Delay(x, d + 1)
    assert expr("x(a*(t - 1) + t - a*t)") == Delay(x, a)  # expanded to find the delay
    assert expr("lambda(t - d)") == Delay(SYMS["lambda"], d)
    assert expr("past(past(x, 1), d)") == Delay(Delay(x, 1), d)


def test_delay_zero_and_constant():
    assert expr("x(t)") == x and expr("x(t - 0)") == x and expr("past(x, 0)") == x
    assert expr("past(2, d)") == 2


def test_delay_is_a_real_sympy_function():
    value = Delay(x, d)
    assert value.free_symbols == {x, d}
    assert value.subs(d, 3) == Delay(x, 3) and value.subs(d, 0) == x
    assert value.xreplace({x: y}) == Delay(y, d)
    assert value.expr == x and value.delay == d
    assert value.is_real and Delay(sympy.Symbol("z"), d).is_real is None
    assert str(value) == "past(x, d)"
    assert sympy.latex(value) == r"x\left(t - d\right)"
    assert sympy.latex(Delay(x + y, a + b)) == r"\left[x + y\right]_{t - \left(a + b\right)}"
    with pytest.raises(TypeError):
        Delay(x)


@pytest.mark.parametrize("text, match", [
    ("x(5)", r"'x\(5\)' .* is not a delayed value: 'x' is declared, so 'x\(...\)' is its delayed"),
    ("x(2*t - 1)", r"'x\(2\*t - 1\)' .* is not a delayed value"),
    ("x(t - 1, 2)", r"'x\(t - 1, 2\)' .* has 2 arguments"),
    ("x()", r"'x\(\)' .* has 0 arguments"),
    ("x(t + 1)", r"delay in 'x\(t \+ 1\)' .* is negative \(-1\), a value from the future"),
    ("past(x, -2)", r"delay in 'past\(x, -2\)' .* is negative"),
    ("past(x, t)", r"delay in 'past\(x, t\)' .* depends on t"),
    ("past(x)", r"Function 'past' .* takes 2 arguments, got 1 .* past\(x, d\)"),
    ("past", r"Function 'past' .* used without arguments"),
])
def test_delay_errors(text, match):
    with pytest.raises(EquationParseError, match=match):
        expr(text)


def test_declared_function_name_is_a_delayed_value():
    syms = {"max": sympy.Symbol("max"), "x": x}
    assert expr("max(t - 1)", syms) == Delay(syms["max"], 1)
    with pytest.raises(EquationParseError, match=r"rename the variable 'max' to use the function"):
        expr("max(x, 1)", syms)


# -- errors ------------------------------------------------------------------------------------
def test_function_that_sympy_refuses_is_an_error():
    z = sympy.Symbol("z", imaginary=True)
    with pytest.raises(EquationParseError, match=r"'max\(z, 1\)' in expression .* cannot be "
                       r"evaluated: The argument 'z' is not comparable") as info:
        expr("max(z, 1)", {"z": z})
    assert isinstance(info.value.__cause__, ValueError)


def test_unknown_symbol_message_is_exact():
    syms = {"r": r, "tau": tau}
    text = "r' = -r/tau + I_ext"
    with pytest.raises(EquationParseError) as info:
        parse_equation(text, syms, path="jrc/pc/rpo")
    assert str(info.value) == (
        "Unknown symbol 'I_ext' in equation \"r' = -r/tau + I_ext\" of jrc/pc/rpo; declared: "
        "r, tau. Declare it under variables or fix the name.")
    assert (info.value.equation, info.value.path, info.value.position) == (text, "jrc/pc/rpo", 14)
    assert isinstance(info.value, ModelDefinitionError) and isinstance(info.value, ValueError)


def test_unknown_symbol_suggests_close_names():
    with pytest.raises(EquationParseError, match=r"Unknown symbol 'taux'.*Did you mean 'tau'\?"):
        eq("x' = -x/taux")


def test_undeclared_keyword_is_an_unknown_symbol():
    syms = {"x": x}
    with pytest.raises(EquationParseError, match=r"Unknown symbol 'lambda' .*declared: x\."):
        eq("x' = -lambda*x", syms)
    with pytest.raises(EquationParseError, match=r"The constant 'None' .* is not allowed"):
        eq("x' = None", syms)


ERRORS = [
    # (text, regex the message must match, position)
    ("x' = foo(a)", r"Unknown function 'foo' in equation \"x' = foo\(a\)\" of net/pop/op; "
     r"allowed functions: exp, log", 5),
    ("x' = expp(a)", r"Unknown function 'expp'.*Did you mean 'exp'", 5),
    ("x' = __import__('os')", r"Unknown function '__import__'", 5),
    ("x' = exp(a, b)", r"Function 'exp' .* takes 1 argument, got 2 in 'exp\(a, b\)'. "
     r"Call it as exp\(x\)", 5),
    ("x' = arctan2(a)", r"Function 'arctan2' .* takes 2 arguments, got 1", 5),
    ("x' = max(a)", r"Function 'max' .* takes 2 or more arguments, got 1", 5),
    ("x' = heaviside(a, b, x)", r"Function 'heaviside' .* takes 1-2 arguments, got 3", 5),
    ("x' = exp + 1", r"Function 'exp' .* used without arguments; call it as exp\(x\)", 5),
    ("x' = max(a, b=1)", r"The keyword argument 'b=...' .* is not allowed. Pass arguments by", 5),
    ("x' = max(*a)", r"A starred argument '\*a' .* is not allowed", 9),
    ("x' = max(**a)", r"Unpacking '\*\*...' .* is not allowed", 5),
    ("x' = a.real", r"Attribute access 'a.real' in equation .* of net/pop/op at position 5 is "
     r"not allowed. Allowed are numbers, declared names", 5),
    ("x' = a[0]", r"Indexing 'a\[0\]' .* is not allowed", 5),
    ("x' = 'a'", r"A string ''a'' .* is not allowed", 5),
    ("x' = b'a'", r"A bytes string", 5),
    ("x' = f'{a}'", r"A string 'f'\{a\}''", 5),
    ("x' = True", r"The boolean 'True'", 5),
    ("x' = 2j", r"The complex number '2j'", 5),
    ("x' = ...", r"The ellipsis", 5),
    ("x' = a < b", r"A comparison 'a < b'", 5),
    ("x' = a and b", r"A boolean operator 'a and b'", 5),
    ("x' = not a", r"The operator 'not' in 'not a'", 5),
    ("x' = ~a", r"The operator '~' in '~a'", 5),
    ("x' = a % b", r"The operator '%' in 'a % b'", 5),
    ("x' = a // b", r"The operator '//' in 'a // b'", 5),
    ("x' = a @ b", r"The operator '@'", 5),
    ("x' = a if b else x", r"A conditional 'a if b else x'", 5),
    ("x' = (a, b)", r"A tuple '\(a, b\)'", 5),
    ("x' = [a]", r"A list '\[a\]'", 5),
    ("x' = {a: 1}", r"A dict", 5),
    ("x' = {a}", r"A set", 5),
    ("x' = [a for a in b]", r"A comprehension", 5),
    ("x' = (y := 1)", r"An assignment 'y := 1'", 6),
    ("x' = (a + b)(t - 1)", r"Calling the expression 'a \+ b'", 5),
    ("x' = t(1)", r"calls 't', which is time, not a function", 5),
    ("x' = pi(2)", r"calls 'pi', which is a constant", 5),
    ("x' = a # comment", r"A comment .* at position 7 is not allowed. Remove the '#' comment", 7),
    ("x' = _sr_kw_lambda", r"The reserved prefix '_sr_kw_' in '_sr_kw_lambda'", 5),
    ("x' = 1/0", r"'1/0' in equation .* evaluates to zoo, not a finite real number", 5),
    ("x' = a + log(0)", r"'log\(0\)' .* evaluates to zoo", 9),
    ("x' = sqrt(-1)*a", r"'sqrt\(-1\)' .* evaluates to I", 5),
    ("x' = 1e999", r"'1e999' .* evaluates to oo", 5),
    ("x' = 0/0", r"evaluates to nan", 5),
    ("x' = 2^2^2^2^2", r"The power '2\^2\^2\^2\^2' .* too large to evaluate exactly", 5),
    ("x' = sqrt(2)^1000000000", r"too large to evaluate exactly", 5),
    ("x' = a $ b", r"Invalid syntax in equation \"x' = a \$ b\" of net/pop/op near '\$ b'", 7),
    ("x' = (a + b", r"Invalid syntax .*'\(' was never closed", 5),
    ("x' = a +", r"Invalid syntax", None),
    ("x' = a b", r"Invalid syntax", None),
    ("x' = ", r"Missing right-hand side in equation \"x' = \" of net/pop/op", 5),
    ("x' = a = b", r"A second '=' in equation .* at position 7 is not allowed. An equation has "
     r"exactly one '='", 7),
    ("x' == a", r"'==' \(a comparison\) in equation .*; an equation has one '='", 3),
    ("x' = a == b", r"A comparison 'a == b'", 5),
    ("x' -a", r"No '=' in equation \"x' -a\" of net/pop/op", None),
    ("dx/dt = a", r"Invalid left-hand side 'dx/dt' .* Allowed forms: x' = f, d/dt x = f", 0),
    ("x'' = a", r"Invalid left-hand side", 0),
    ("x + y = a", r"Invalid left-hand side 'x \+ y'", 0),
    ("d/dt x' = a", r"Invalid left-hand side", 0),
    (" = a", r"Invalid left-hand side", 0),
    ("x <= a", r"Invalid left-hand side 'x <'", 0),
    ("xx' = a", r"Unknown variable 'xx' on the left-hand side in equation .*; declared: x, y.*"
     r"Did you mean 'x'\?.*Declare it under variables", 0),
    ("d/dt  t = 1", r"Unknown variable 't' on the left-hand side", 6),
]


@pytest.mark.parametrize("text, match, position", ERRORS, ids=[e[0] for e in ERRORS])
def test_error_messages(text, match, position):
    with pytest.raises(EquationParseError, match=match) as info:
        eq(text)
    err = info.value
    assert (err.equation, err.path) == (text, "net/pop/op")
    assert "net/pop/op" in str(err)
    if position is not None:
        assert err.position == position
    else:
        assert err.position is None or 0 <= err.position <= len(text)


def test_error_position_points_at_the_token():
    text = "x' = a + b*sin(é)/foo(1)"
    with pytest.raises(EquationParseError) as info:
        eq(text)
    assert text[info.value.position:].startswith("foo(1)")
    text = "lambda' = lambda^2 + lambda*zz"  # renamed keywords shift the rewritten source
    with pytest.raises(EquationParseError) as info:
        eq(text)
    assert text[info.value.position:] == "zz"
    text = "x' = a^2 ^ b + é.real"
    with pytest.raises(EquationParseError) as info:
        eq(text)
    assert text[info.value.position:] == "é.real"


def test_syntax_error_is_chained():
    with pytest.raises(EquationParseError, match="Invalid syntax") as info:
        eq("x' = a +* b")
    assert isinstance(info.value.__cause__, SyntaxError)


def test_parse_expression_errors_and_positions():
    with pytest.raises(EquationParseError, match=r"Unknown symbol 'zz' in expression \"a \+ zz\"") \
            as info:
        expr("a + zz")
    assert (info.value.equation, info.value.position) == ("a + zz", 4)
    with pytest.raises(EquationParseError, match=r"in equation \"y = a \+ zz\" of p") as info:
        parse_expression("a + zz", SYMS, path="p", equation="y = a + zz")
    assert (info.value.equation, info.value.position) == ("y = a + zz", 8)
    with pytest.raises(EquationParseError) as info:
        parse_expression("a + zz", SYMS, path="p", equation="something else")
    assert info.value.position is None
    with pytest.raises(EquationParseError, match=r"An '=' in expression \"a = b\""):
        expr("a = b")


def test_long_sum_is_walked_without_deep_recursion():
    # a recursive walk would need two frames per term, beyond the default recursion limit
    assert expr(" + ".join(["x"] * 800)) == 800 * x
    assert expr("*".join(["x"] * 800)) == x**800


def test_deep_nesting_is_an_error():
    with pytest.raises(EquationParseError, match="too many nested parentheses"):
        expr("(" * 500 + "x" + ")" * 500)
    with pytest.raises(EquationParseError, match="nested too deeply or too long"):
        expr("-" * 100_000 + "x")
    with pytest.raises(EquationParseError, match="nested too deeply or too long"):
        expr(" + ".join(["x"] * 100_000))


# -- nothing is executed -----------------------------------------------------------------------
def payloads(path):
    cmd = f"__import__('os').system('touch {path}')"
    return [
        f"x' = {cmd}",
        f"x' = a + {cmd}",
        f"x' = open('{path}', 'w')",
        "x' = ().__class__",
        "x' = ().__class__.__bases__[0].__subclasses__()",
        "x' = x.__dict__",
        "x' = (lambda: 1)()",
        f"x' = (lambda: {cmd})()",
        f"x' = [{cmd} for _ in (1,)]",
        f"x' = exec(\"open('{path}', 'w')\")",
        f"x' = eval(\"{cmd}\")",
        f"x' = f\"{{{cmd}}}\"",
        f"x' = exp({cmd})",
        f"x' = x(t - {cmd})",
        f"x' = past(x, {cmd})",
        f"x' = max(a, key={cmd})",
        f"x' = (y := {cmd})",
        f"x' = {cmd} if a else b",
        f"x' = sympy.sympify('{cmd}')",
        "x' = breakpoint()",
        f"x' = a; {cmd}",
        f"x' = a\n{cmd}",
    ]


@pytest.mark.parametrize("index", range(len(payloads("p"))))
def test_malicious_text_executes_nothing(tmp_path, monkeypatch, index):
    target = tmp_path / "pwned"
    text = payloads(target)[index]

    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec called while parsing")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(sympy, "sympify", forbidden)
    with pytest.raises(EquationParseError, match=re.escape("net/pop/op")):
        eq(text)
    assert not target.exists()


def test_malicious_expression_executes_nothing(tmp_path):
    target = tmp_path / "pwned"
    with pytest.raises(EquationParseError, match="Attribute access"):
        expr(f"__import__('os').system('touch {target}')")
    assert not target.exists()


# -- robustness --------------------------------------------------------------------------------
FUZZ_TOKENS = ["x", "a", "lambda", "I", "t", "pi", "1", "0", "2.5", "1e999", "(", ")", "+", "-",
               "*", "/", "^", "**", "=", "==", "'", ",", "exp", "max", "past", "heaviside",
               "arctan2", "d/dt", " ", "\n", "#", "\0", "é", "[", ".", "if", "not", ":", "lambda:",
               "$", "\\", "\t", "True", "1j", "0x1F", "%", "'a'", '"', "{", ";", "sqrt", "`"]


@pytest.mark.parametrize("seed", range(4))
def test_random_text_gives_a_result_or_an_equation_parse_error(seed, recwarn):
    rng = random.Random(seed)
    for _ in range(500):
        text = "".join(rng.choice(FUZZ_TOKENS) for _ in range(rng.randint(0, 12)))
        text = rng.choice(["", "x' = ", "a = ", "d/dt x = ", "lambda' = "]) + text
        try:
            parsed = eq(text)
        except EquationParseError as err:
            assert err.equation == text and err.path == "net/pop/op"
            assert err.position is None or 0 <= err.position <= len(text)
        else:
            assert isinstance(parsed.rhs, sympy.Expr)
    assert not [w for w in recwarn if issubclass(w.category, SyntaxWarning)]
