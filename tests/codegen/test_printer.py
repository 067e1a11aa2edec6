"""CythonPrinter: exact strings (STYLE.md §6), reserved names, errors."""

import pytest
import sympy

from symrates.codegen.printer import MAX_EXPANDED_POWER, CythonPrinter
from symrates.errors import CodegenError
from symrates.frontend.parsing import Delay

# User names that must never reach the generated code as they are.
x, y, I, E, lam, beta, r, N = sympy.symbols("x y I E lambda beta r N", real=True)  # noqa: E741
NAMES = {x: "_sr_x0", y: "_sr_x1", I: "_sr_p0", E: "_sr_p1", lam: "_sr_p2", beta: "_sr_p3",
         r: "_sr_p4", N: "_sr_c0"}


def p(expr):
    return CythonPrinter(NAMES).doprint(expr)


@pytest.mark.parametrize(("expr", "code"), [
    # numbers are doubles
    (sympy.Integer(2), "2.0"),
    (sympy.Integer(-3), "-3.0"),
    (sympy.Rational(1, 3), "1.0/3.0"),
    (sympy.S.Half, "0.5"),
    (sympy.Float(0.1), "0.1"),
    (sympy.Float(1) / 3, "0.3333333333333333"),        # the shortest repr that round-trips
    (sympy.Float(1.5e-300), "1.5e-300"),
    (2 * x, "2.0*_sr_x0"),
    (-2 * x, "-2.0*_sr_x0"),
    (x / 3, "(1.0/3.0)*_sr_x0"),
    (sympy.pi, "M_PI"),
    (sympy.E, "M_E"),
    (sympy.pi / 2, "0.5*M_PI"),
    (sympy.oo, "INFINITY"),
    # small integer powers are products, x**-1 a division, x**0.5 a sqrt
    (x**2, "_sr_x0*_sr_x0"),
    (x**3, "_sr_x0*_sr_x0*_sr_x0"),
    (x**MAX_EXPANDED_POWER, "*".join(["_sr_x0"] * MAX_EXPANDED_POWER)),
    (x**5, "pow(_sr_x0, 5.0)"),
    (x**-1, "1.0/_sr_x0"),
    (x**-2, "1.0/(_sr_x0*_sr_x0)"),
    (x**0.5, "sqrt(_sr_x0)"),
    (sympy.sqrt(x), "sqrt(_sr_x0)"),
    (1 / sympy.sqrt(x), "1.0/sqrt(_sr_x0)"),
    (x**2.0, "_sr_x0*_sr_x0"),
    (x**sympy.Rational(3, 2), "pow(_sr_x0, 3.0/2.0)"),
    (2**x, "pow(2.0, _sr_x0)"),
    (sympy.pi**2, "M_PI*M_PI"),
    # powers keep their grouping inside products, as in the numpy reference
    (y * x**2, "(_sr_x0*_sr_x0)*_sr_x1"),
    (y / x**2, "_sr_x1/(_sr_x0*_sr_x0)"),
    (-x**2, "-(_sr_x0*_sr_x0)"),
    (-x**3 / 3 + x, "-(1.0/3.0)*(_sr_x0*_sr_x0*_sr_x0) + _sr_x0"),
    ((x + y)**2, "(_sr_x0 + _sr_x1)*(_sr_x0 + _sr_x1)"),
    (sympy.tanh(x)**2, "tanh(_sr_x0)*tanh(_sr_x0)"),
    # libc.math
    (sympy.exp(-x), "_sr_exp(-_sr_x0)"),   # the kernels' own vectorisable exp
    (sympy.log(x), "log(_sr_x0)"),
    (sympy.log(x, 10), "log(_sr_x0)/log(10.0)"),
    (sympy.sin(x) + sympy.cos(y), "sin(_sr_x0) + cos(_sr_x1)"),
    (sympy.atan2(y, x), "atan2(_sr_x1, _sr_x0)"),
    (sympy.atan(x), "atan(_sr_x0)"),
    (sympy.Abs(x), "fabs(_sr_x0)"),
    (sympy.Min(x, y), "_sr_fmin(_sr_x0, _sr_x1)"),
    (sympy.Max(x, y, 1), "_sr_fmax(1.0, _sr_fmax(_sr_x0, _sr_x1))"),
    (sympy.sign(x), "_sr_sign(_sr_x0)"),
    (sympy.Heaviside(x, 0), "_sr_heaviside(_sr_x0, 0.0)"),
    (sympy.Heaviside(x - 1, sympy.S.Half), "_sr_heaviside(_sr_x0 - 1.0, 0.5)"),
    # conditionals are Cython conditional expressions
    (sympy.Piecewise((x, x > 0), (y, True)), "(_sr_x0 if _sr_x0 > 0.0 else _sr_x1)"),
    (sympy.Piecewise((x, (x > 0) & (y < 1)), (0, True)),
     "(_sr_x0 if _sr_x0 > 0.0 and _sr_x1 < 1.0 else 0.0)"),
    # a sigmoid, as the models write it
    (1 / (1 + sympy.exp(-r * (x - y))), "1.0/(1.0 + _sr_exp(-_sr_p4*(_sr_x0 - _sr_x1)))"),
])
def test_exact_strings(expr, code):
    assert p(expr) == code


def test_user_names_are_printed_through_the_name_map():
    # I, E, lambda, beta, r, N are plain symbols; none of them leaks into the code
    code = p(I * E + lam * r - beta / N)
    # (terms and factors are ordered by the user names: E before I)
    assert code == "_sr_p1*_sr_p0 + _sr_p2*_sr_p4 - _sr_p3/_sr_c0"


def test_a_symbol_without_a_name_is_a_codegen_error():
    z = sympy.Symbol("z")
    with pytest.raises(CodegenError, match=r"Symbol 'z' has no name in the generated code"):
        p(x + z)


def test_unknown_and_delayed_functions_are_codegen_errors():
    f = sympy.Function("f")
    with pytest.raises(CodegenError, match=r"The function 'f' in f\(x\) has no compiled "
                                           r"equivalent. Supported: .*exp"):
        p(f(x))
    with pytest.raises(CodegenError, match=r"delayed value .* cannot be printed as an expression"):
        p(Delay(x, sympy.Float(0.5)))


def test_complex_numbers_are_codegen_errors():
    with pytest.raises(CodegenError, match=r"imaginary unit"):
        p(x + sympy.I)
    with pytest.raises(CodegenError, match=r"complex infinity"):
        p(sympy.zoo * x)


def test_piecewise_without_default_is_a_codegen_error():
    with pytest.raises(CodegenError, match=r"has no default branch"):
        p(sympy.Piecewise((x, x > 0)))
