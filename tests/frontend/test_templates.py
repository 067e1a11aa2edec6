"""Templates in Python: declarations, chaining, edges, nesting, update, and their errors."""

import numpy as np
import pytest
import sympy

import symrates as sr
from symrates.errors import EquationParseError, ModelDefinitionError
from tests.scenarios import LEAKY, two_leaky_chain


def S(name):
    return sympy.Symbol(name, real=True)


def test_variable_declarations():
    op = sr.OperatorTemplate(
        "op", ["x' = -x + a + b", "y = 2*x"],
        {"x": "variable(0.5)", "y": "output", "a": "input(1.5)", "b": "2e-3", "c": 4},
    )
    assert op.variables["x"] == sr.frontend.templates.Variable("variable", 0.5)
    assert op.variables["y"].kind == "output" and op.variables["y"].default == 0.0
    assert op.variables["a"].kind == "input" and op.variables["a"].default == 1.5
    assert op.variables["b"].kind == "parameter" and op.variables["b"].default == 2e-3
    assert op.states == ("x",) and op.algebraic == ("y",)
    assert set(op.parameters) == {"b", "c"}


@pytest.mark.parametrize(
    "variables, match",
    [
        ({"x": "variable(abc)"}, r"variable 'x' in operator 'bad' must be a number"),
        ({"x": "stat(0)"}, r"Cannot read the declaration 'stat\(0\)' of variable 'x'"),
        ({"x": True}, r"Cannot read the declaration True of variable .x."),
        ({"x": "variable", "t": 1.0}, r"'t' is the time"),
        ({"x": "variable", "2x": 1.0}, r"Invalid variable name '2x'"),
        ({"x": {"value": 1}}, r"mapping without 'default'"),
    ],
)
def test_bad_declarations(variables, match):
    with pytest.raises(ModelDefinitionError, match=match):
        sr.OperatorTemplate("bad", ["x' = -x"], variables)


def test_equation_defines_parameter_or_twice():
    with pytest.raises(ModelDefinitionError, match=r"defines 'k', which is declared as parameter"):
        sr.OperatorTemplate("bad", ["x' = -x", "k = 2"], {"x": "variable", "k": 1.0})
    with pytest.raises(ModelDefinitionError, match=r"Variable 'x' of operator 'bad' has two"):
        sr.OperatorTemplate("bad", ["x' = -x", "x' = 1"], {"x": "variable"})


def test_undeclared_symbol_names_equation_and_template():
    with pytest.raises(EquationParseError, match=r"I_ext.*rpo") as info:
        sr.OperatorTemplate("rpo", ["r' = -r/tau + I_ext"], {"r": "variable", "tau": 1.0})
    assert info.value.path == "rpo"


def test_operator_chaining_sums_same_named_outputs():
    syn1 = sr.OperatorTemplate("s1", ["v' = -v + 1"], {"v": "output(0.0)"})
    syn2 = sr.OperatorTemplate("s2", ["v' = -2*v"], {"v": "output(1.0)"})
    sig = sr.OperatorTemplate("sig", ["m = 3*v"], {"m": "output", "v": "input(0.5)"})
    inte = sr.OperatorTemplate("int", ["z' = m - z"], {"z": "variable", "m": "input"})
    system = sr.build(sr.NodeTemplate("pop", [syn1, syn2, sig, inte]))
    z = system.symbol("z")
    v1, v2 = system.symbol("s1/v"), system.symbol("s2/v")
    base_v, base_m = system.symbol("sig/v"), system.symbol("int/m")
    expected = base_m + 3 * (base_v + v1 + v2) - z
    assert sympy.simplify(system.rhs[system.states.index("pop/int/z")] - expected) == 0


def test_edges_sum_into_inputs_with_weights():
    system = sr.build(two_leaky_chain(weight=3.0))
    a, b = system.symbol("a/li/r"), system.symbol("b/li/r")
    tau_b, base_b = system.symbol("b/li/tau"), system.symbol("b/li/I_ext")
    rhs_b = system.rhs[system.states.index("b/li/r")]
    assert sympy.simplify(rhs_b - (-b + base_b + 3 * a) / tau_b) == 0
    # identical nodes form one group with two units, the edge one coupling
    assert [g.n for g in system.groups] == [2]
    assert len(system.couplings) == 1
    assert system.couplings[0].weights.toarray().tolist() == [[0.0, 0.0], [3.0, 0.0]]


def test_nested_circuits_and_edges_between_them():
    inner = two_leaky_chain(weight=2.0)
    outer = sr.CircuitTemplate(
        "outer", {"c1": inner, "c2": inner},
        [("c1/b/li/r", "c2/a/li/I_ext", None, {"weight": 0.5})],
    )
    system = sr.build(outer)
    assert set(system.states) == {"c1/a/li/r", "c1/b/li/r", "c2/a/li/r", "c2/b/li/r"}
    rhs = system.rhs[system.states.index("c2/a/li/r")]
    a2, b1 = system.symbol("c2/a/li/r"), system.symbol("c1/b/li/r")
    tau, base = system.symbol("c2/a/li/tau"), system.symbol("c2/a/li/I_ext")
    assert sympy.simplify(rhs - (-a2 + base + b1 / 2) / tau) == 0
    assert [g.n for g in system.groups] == [4]


def test_edge_template_operators_are_applied_to_the_source():
    square = sr.OperatorTemplate("sq", ["out = k * inp^2"],
                                 {"out": "output", "inp": "input", "k": 1.0})
    edge = sr.EdgeTemplate("squarer", [square])
    node = sr.NodeTemplate("LI", [LEAKY])
    circ = sr.CircuitTemplate(
        "c", {"a": node, "b": node},
        [("a/li/r", "b/li/I_ext", edge, {"weight": 2.0, "sq/k": 5.0})],
    )
    system = sr.build(circ)
    a, b = system.symbol("a/li/r"), system.symbol("b/li/r")
    rhs_b = system.rhs[system.states.index("b/li/r")]
    k = system.symbol("squarer_0/sq/k")
    assert system.parameters["squarer_0/sq/k"] == 5.0
    assert sympy.simplify(rhs_b.subs(k, 5) - (-b + system.symbol("b/li/I_ext") + 2 * 5 * (
        a + system.symbol("squarer_0/sq/inp")) ** 2) / system.symbol("b/li/tau")) == 0


def test_edge_template_with_chained_operators_feeds_its_last_output_to_the_target():
    gain = sr.OperatorTemplate("Gain", ["s_in = k*u"],
                               {"s_in": "output(0.0)", "u": "input(0.0)", "k": 2.0})
    lp = sr.OperatorTemplate("LP", ["s' = (s_in - s)/tau"],
                             {"s": "output(0.0)", "s_in": "input(0.0)", "tau": 0.1})
    op = sr.OperatorTemplate("Op", ["x' = -x + i"], {"x": "output(1.0)", "i": "input(0.0)"})
    edge = sr.EdgeTemplate("GE", [gain, lp])
    assert (edge.free_input, edge.output) == ("Gain/u", "LP/s")
    w = 1.5
    system = sr.build(sr.CircuitTemplate("C", {"a": op, "b": op},
                                         [("a/x", "b/i", edge, {"weight": w})]))
    assert system.states == ("a/Op/x", "b/Op/x", "GE_0/LP/s")
    xa, xb, s = (system.symbol(p) for p in system.states)
    P = {p: system.symbol(p) for p in system.parameters}
    # by hand: u = x_a (+ its constant part), s_in = k*u, s' = (s_in - s)/tau, b's i += w*s
    assert list(system.rhs) == [
        P["a/Op/i"] - xa,
        P["b/Op/i"] + w * s - xb,
        (P["GE_0/LP/s_in"] + P["GE_0/Gain/k"] * (P["GE_0/Gain/u"] + xa) - s) / P["GE_0/LP/tau"],
    ]
    # x_a = exp(-t); s = c (exp(-t) - exp(-t/tau)) with c = k/(1 - tau); x_b' = -x_b + w s
    res = sr.simulate(system, 3.0, dt=1e-3, method="rk4", backend="numpy", sampling=0.1)
    t, k, tau = res.t, 2.0, 0.1
    c = k / (1 - tau)
    np.testing.assert_allclose(res["GE_0/LP/s"], c * (np.exp(-t) - np.exp(-t / tau)),
                               rtol=1e-9, atol=1e-12)
    d = w * c
    xb_exact = ((1 - d * tau / (1 - tau)) * np.exp(-t) + d * t * np.exp(-t)
                + d * tau / (1 - tau) * np.exp(-t / tau))
    np.testing.assert_allclose(res["b/Op/x"], xb_exact, rtol=1e-9)
    both = sr.EdgeTemplate("GE2", [gain,
                                   sr.OperatorTemplate("LP", ["s' = -s"], {"s": "output"})])
    with pytest.raises(ModelDefinitionError,
                       match=r"EdgeTemplate 'GE2' needs exactly one variable marked 'output' that "
                             r"no other operator of the edge takes as input .*found "
                             r"\['Gain/s_in', 'LP/s'\]"):
        sr.build(sr.CircuitTemplate("C", {"a": op, "b": op}, [("a/x", "b/i", both, {})]))


def test_edge_errors():
    node = sr.NodeTemplate("LI", [LEAKY])
    with pytest.raises(ModelDefinitionError, match=r"targets 'li/r', which is declared as output"):
        sr.build(sr.CircuitTemplate("c", {"a": node, "b": node}, [("a/li/r", "b/li/r")]))
    with pytest.raises(ModelDefinitionError, match=r"does not start with a node.*Nodes: a, b"):
        sr.build(sr.CircuitTemplate("c", {"a": node, "b": node}, [("x/li/r", "b/li/I_ext")]))
    with pytest.raises(ModelDefinitionError, match=r"unknown attributes \['wieght'\]"):
        sr.CircuitTemplate("c", {"a": node}, [("a/li/r", "a/li/I_ext", None, {"wieght": 1})])
    with pytest.raises(ModelDefinitionError, match=r"delay must be >= 0"):
        sr.CircuitTemplate("c", {"a": node}, [("a/li/r", "a/li/I_ext", None, {"delay": -1})])
    with pytest.raises(ModelDefinitionError, match=r"Unknown variable 'li/q' in node 'b'"):
        sr.build(sr.CircuitTemplate("c", {"a": node, "b": node}, [("a/li/r", "b/li/q")]))


def test_malformed_template_arguments_are_model_definition_errors():
    node = sr.NodeTemplate("LI", [LEAKY])
    with pytest.raises(ModelDefinitionError,
                       match=r"Edge \['a/li/r', 'a/li/I_ext', None, 5\] of CircuitTemplate 'c': "
                             r"the fourth entry must be a mapping of edge attributes"):
        sr.CircuitTemplate("c", {"a": node}, [("a/li/r", "a/li/I_ext", None, 5)])
    with pytest.raises(ModelDefinitionError,
                       match=r"Equations of operator 'op' must be a string or a list of strings "
                             r".*got 5"):
        sr.OperatorTemplate("op", 5, {"x": "output"})
    with pytest.raises(ModelDefinitionError,
                       match=r"NodeTemplate 'n' gives 5 as the changes of operator 'li'; .*each "
                             r"operator maps to \{variable: value\}"):
        sr.NodeTemplate("n", {LEAKY: 5})


def test_update_is_immutable_and_resolves_suffixes():
    circ = two_leaky_chain()
    new = circ.update({"b/li/tau": 5.0, "a/li/r": 0.25})
    assert sr.build(circ).parameters["b/li/tau"] == 2.0
    system = sr.build(new)
    assert system.parameters["b/li/tau"] == 5.0 and system.parameters["a/li/tau"] == 2.0
    y0 = dict(zip(system.states, system.initial_state))
    assert y0 == {"a/li/r": 0.25, "b/li/r": 0.0}
    with pytest.raises(ModelDefinitionError, match=r"ambiguous.*'a/li/tau', 'b/li/tau'"):
        circ.update({"tau": 1.0})
    with pytest.raises(ModelDefinitionError, match=r"Unknown variable 'taux'.*Did you mean"):
        circ.update({"taux": 1.0})
    assert LEAKY.update({"tau": 3.0}).variables["tau"].default == 3.0
    assert LEAKY.variables["tau"].default == 2.0


def test_cyclic_algebraic_equations_are_rejected():
    op = sr.OperatorTemplate("loop", ["a = b + 1", "b = 2*a", "x' = a"],
                             {"a": "variable", "b": "variable", "x": "variable"})
    with pytest.raises(ModelDefinitionError, match=r"Cyclic algebraic equations in node 'loop'"):
        sr.build(op)


def test_cyclic_algebraic_edges_are_rejected():
    relay = sr.OperatorTemplate("relay", ["out = 2*inp"], {"out": "output", "inp": "input"})
    node = sr.NodeTemplate("R", [relay])
    circ = sr.CircuitTemplate("c", {"a": node, "b": node},
                              [("a/relay/out", "b/relay/inp"), ("b/relay/out", "a/relay/inp")])
    with pytest.raises(ModelDefinitionError, match=r"Cyclic algebraic equations in 'c'"):
        sr.build(circ)


def test_build_rejects_other_objects():
    with pytest.raises(ModelDefinitionError, match=r"Cannot build a model from int"):
        sr.build(3)
    with pytest.raises(ModelDefinitionError, match=r"EdgeTemplate 'e' cannot be built"):
        sr.build(sr.EdgeTemplate("e", [LEAKY]))


def test_vector_field_and_parameters():
    system = sr.build(two_leaky_chain(weight=3.0))
    f = system.vector_field({"a/li/r": 1.0, "b/li/r": 2.0}, params={"b/li/tau": 4.0})
    np.testing.assert_allclose(f, [-1.0 / 2.0, (-2.0 + 3.0) / 4.0], rtol=1e-15)
    with pytest.raises(ModelDefinitionError, match=r"names 'a/li/r', which is a state"):
        system.vector_field([0, 0], params={"a/li/r": 1.0})
    with pytest.raises(ModelDefinitionError, match=r"must have 2 entries"):
        system.vector_field([0, 0, 0])
