"""The symbolic system: paths, flattened view, Jacobian, LaTeX, groups."""

import re

import numpy as np
import pytest
import sympy

import symrates as sr
from symrates.errors import ModelDefinitionError
from symrates.ir.paths import PathIndex
from tests.scenarios import two_leaky_chain


def test_path_index_suffixes():
    idx = PathIndex(["pc/rpo_e/v", "pc/rpo_i/v", "ein/rpo_e/v", "pc/pro/m_out"], model="JRC")
    assert idx.resolve("m_out") == "pc/pro/m_out"
    assert idx.resolve("pc/rpo_i/v") == "pc/rpo_i/v"
    assert idx.resolve("ein/rpo_e/v") == "ein/rpo_e/v"
    assert "m_out" in idx and "v" not in idx
    with pytest.raises(ModelDefinitionError, match=r"'rpo_e/v' is ambiguous in JRC: it matches "
                                                   r"'pc/rpo_e/v', 'ein/rpo_e/v'"):
        idx.resolve("rpo_e/v")
    with pytest.raises(ModelDefinitionError, match=r"Unknown variable 'm_ot' in JRC\. Did you "
                                                   r"mean 'pc/pro/m_out'"):
        idx.resolve("m_ot")
    with pytest.raises(ModelDefinitionError, match=r"Expected a variable path"):
        idx.resolve("")
    # a suffix must consist of whole parts
    with pytest.raises(ModelDefinitionError, match=r"Unknown variable 'out'"):
        idx.resolve("out")


def test_jansen_rit_circuit_groups_and_states():
    system = sr.build("jansen_rit.JRC")
    assert [(g.name, g.n) for g in system.groups] == [("PC", 1), ("EIN", 2)]
    assert len(system.states) == 8 and system.n_states == 8
    assert system.states[:4] == ("pc/RPO_e_pc/v", "pc/RPO_e_pc/x", "pc/RPO_i/v", "pc/RPO_i/x")
    assert set(system.states[4:]) == {"ein/RPO_e/v", "ein/RPO_e/x", "iin/RPO_e/v", "iin/RPO_e/x"}
    assert system.parameters["pc/RPO_e_pc/u"] == 220.0
    assert "pc/PRO/m_out" in system.outputs and "ein/PRO/m_out" in system.algebraic_variables
    assert "pc/RPO_i/m_in" in system.inputs
    assert len(system.equations) == 8
    assert system.equations[0].lhs == sympy.Derivative(system.symbol("pc/RPO_e_pc/v"),
                                                       sympy.Symbol("t", real=True))


def test_jacobian_is_exact_and_matches_differences():
    system = sr.build("jansen_rit.JRC")
    J = system.jacobian()
    x = system.state_symbols
    assert sympy.simplify(J[1, 4] - sympy.diff(system.rhs[1], x[4])) == 0
    params = {system.symbol(p): v for p, v in system.parameters.items()}
    rng = np.random.default_rng(1)
    y = rng.uniform(-5e-3, 15e-3, 8)
    Jn = np.array(J.subs(params).subs(dict(zip(x, y))).evalf(), dtype=float)
    h = 1e-7
    cols = []
    for k in range(8):
        e = np.zeros(8)
        e[k] = h
        cols.append((system.vector_field(y + e) - system.vector_field(y - e)) / (2 * h))
    np.testing.assert_allclose(Jn, np.array(cols).T, rtol=1e-6, atol=1e-6 * np.abs(Jn).max())


def test_latex_and_symbols():
    system = sr.build(two_leaky_chain())
    tex = system.latex()
    assert tex.startswith("\\begin{aligned}") and "\\frac{d}{dt}" in tex
    assert "{r}_{\\mathrm{a,li}}" in tex
    assert system.symbol("a/li/r").name == "a/li/r"
    assert system.symbol("b/li/I_ext").name == "b/li/I_ext"  # an input's constant part
    with pytest.raises(ModelDefinitionError, match=r"'pc/PRO/m_out' of 'JRC' is an algebraic"):
        sr.build("jansen_rit.JRC").symbol("pc/PRO/m_out")


def _pair_network():
    op = sr.OperatorTemplate("Op", ["x' = -x + i"], {"x": "output(1.0)", "i": "input(0.0)"})
    return sr.build(sr.network(sr.NodeTemplate("pop", [op]), 2, couplings=[
        sr.Coupling("x", "i", np.array([[0, 2.0], [1.0, 0]]))]))


def test_network_symbols_are_per_unit():
    system = _pair_network()
    assert system.symbol("x[1]").name == "pop/Op/x[1]"
    assert system.symbol("pop/Op/i[0]").name == "pop/Op/i[0]"
    for path in ("x", "x[2]"):
        with pytest.raises(ModelDefinitionError,
                           match=rf"'{re.escape(path)}' of 'pop' names no single symbol: the "
                                 r"flattened view has one per unit, 'pop/Op/x\[0\]', "
                                 r"'pop/Op/x\[1\]'. Ask for one of them, e.g. "
                                 r"symbol\('pop/Op/x\[0\]'\)"):
            system.symbol(path)


def test_network_latex_subscripts_the_copy():
    x0, x1 = r"{x}_{\mathrm{pop,Op},0}", r"{x}_{\mathrm{pop,Op},1}"
    i0, i1 = r"{i}_{\mathrm{pop,Op},0}", r"{i}_{\mathrm{pop,Op},1}"
    assert _pair_network().latex() == (
        "\\begin{aligned}\n"
        rf"\frac{{d}}{{dt}} {x0} &= {i0} - {x0} + 2 {x1} \\" "\n"
        rf"\frac{{d}}{{dt}} {x1} &= {i1} + {x0} - {x1}" "\n"
        "\\end{aligned}"
    )


def test_build_is_idempotent_on_systems():
    system = sr.build(two_leaky_chain())
    assert sr.build(system) is system
    assert "2 states" in repr(system)


def test_flat_view_refuses_huge_systems():
    op = sr.OperatorTemplate("li", ["r' = -r + I_ext"], {"r": "output", "I_ext": "input"})
    nodes = {f"n{i}": sr.NodeTemplate("LI", [op]) for i in range(2001)}
    system = sr.build(sr.CircuitTemplate("big", nodes))
    assert system.n_states == 2001 and len(system.groups) == 1
    with pytest.raises(ModelDefinitionError, match=r"2001 states: the flattened sympy view"):
        system.rhs  # noqa: B018
    np.testing.assert_allclose(system.vector_field(np.ones(2001)), -np.ones(2001))


def test_numeric_functions_are_built_once_per_system():
    system = sr.build("jansen_rit.JR6")
    system.vector_field(np.ones(6))
    first = system._cache["numpy"]
    system.vector_field(np.ones(6), params={"p": 100.0})
    sr.simulate(system, 0.001, dt=1e-4)
    assert system._cache["numpy"] is first
