"""YAML templates in PyRates' format: loading, inheritance, references, round trip, errors."""

import re
import textwrap

import numpy as np
import pytest
import sympy

import symrates as sr
from symrates.errors import EquationParseError, ModelDefinitionError


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


PYRATES_STYLE = """
    # written for PyRates: bare declarations, d/dt * x, ^, anchors, replace/add, circuits:
    defaults: &syn_vars
      v: output
      x: variable
      m_in: input
      H: 3.25e-3
      tau: 10.0e-3

    RPO_e:
      base: OperatorTemplate
      equations:
        - "d/dt * v = x"
        - "d/dt * x = H/tau * m_in - 2.*x/tau - v/tau^2"
      variables: *syn_vars

    RPO_e_pc:
      base: RPO_e
      equations:
        replace:
          m_in: (m_in + u)
        add:
          - "drive = m_in + u"
      variables:
        u: 220.0
        drive: variable

    PRO:
      base: OperatorTemplate
      equations: "m_out = m_max / (1. + exp(r*(v_thr - v)))"
      variables:
        m_out: output
        v: input
        m_max: 5.
        r: 560.
        v_thr: 6e-3

    PC:
      base: NodeTemplate
      operators: [RPO_e_pc, PRO]

    EIN:
      base: NodeTemplate
      operators:
        RPO_e: {tau: 0.02}
        PRO: {}

    Pair:
      base: CircuitTemplate
      nodes: {pc: PC, ein: EIN}
      edges:
        - [pc/PRO/m_out, ein/RPO_e/m_in, null, {weight: 135.}]
        - [ein/PRO/m_out, pc/RPO_e_pc/m_in, null, {weight: 108.}]

    Twin:
      base: CircuitTemplate
      circuits: {left: Pair, right: Pair}
      edges:
        - [left/pc/PRO/m_out, right/pc/RPO_e_pc/m_in, null, {weight: 2.0, delay: 0.01}]
"""


def test_pyrates_style_file(tmp_path):
    f = write(tmp_path / "jr.yaml", PYRATES_STYLE)
    pc_syn = sr.load(f"{f}:RPO_e_pc")
    assert pc_syn.equations[1] == "x' = H*(m_in + u)/tau - 2.0*x/tau - v/tau**2"
    assert pc_syn.algebraic == ("drive",)
    assert pc_syn.variables["u"].default == 220.0 and pc_syn.variables["v"].kind == "output"
    system = sr.build(f"{f}:Pair")
    assert system.parameters["ein/RPO_e/tau"] == 0.02
    x, v = system.symbol("pc/RPO_e_pc/x"), system.symbol("pc/RPO_e_pc/v")
    H, tau, u = (system.symbol(f"pc/RPO_e_pc/{n}") for n in ("H", "tau", "u"))
    base = system.symbol("pc/RPO_e_pc/m_in")
    m_max, r, thr = (system.symbol(f"ein/PRO/{n}") for n in ("m_max", "r", "v_thr"))
    v_ein, v_base = system.symbol("ein/RPO_e/v"), system.symbol("ein/PRO/v")
    sig = m_max / (1 + sympy.exp(r * (thr - v_ein - v_base)))
    expected = H / tau * (base + 108 * sig + u) - 2 * x / tau - v / tau**2
    rhs = system.rhs[system.states.index("pc/RPO_e_pc/x")]
    assert sympy.simplify(rhs - expected) == 0

    twin = sr.build(f"{f}:Twin")
    assert len(twin.states) == 8 and twin.has_delays
    delayed = [c for c in twin.couplings if c.delays is not None]
    assert len(delayed) == 1 and delayed[0].delays.tolist() == [0.01]


def test_references_across_files_and_packages(tmp_path):
    pkg = tmp_path / "mymodels"
    pkg.mkdir()
    write(pkg / "synapses.yaml", """
        Syn:
          base: OperatorTemplate
          equations: ["v' = -v/tau + inp"]
          variables: {v: output(0.0), inp: input(0.0), tau: 1.0}
    """)
    write(pkg / "nets.yaml", """
        Pop:
          base: NodeTemplate
          operators: [mymodels.synapses.Syn]
        Net:
          base: CircuitTemplate
          nodes: {p1: Pop, p2: mymodels.nets.Pop}
          edges: [[p1/Syn/v, p2/Syn/inp, null, {weight: 0.5}]]
        FromLibrary:
          base: CircuitTemplate
          nodes: {jr: jansen_rit.PC}
    """)
    net = sr.build(f"{pkg / 'nets.yaml'}:Net")
    assert net.states == ("p1/Syn/v", "p2/Syn/v")
    assert sr.build(f"{pkg / 'nets.yaml'}:FromLibrary").n_states == 4


def test_round_trip_keeps_equations(tmp_path):
    f = write(tmp_path / "jr.yaml", PYRATES_STYLE)
    for name in ("Pair", "Twin"):
        tpl = sr.load(f"{f}:{name}")
        out = sr.save(tpl, tmp_path / f"{name}_out.yaml")
        again = sr.load(f"{out}:{name}")
        a, b = sr.build(tpl), sr.build(again)
        assert a.states == b.states
        assert dict(a.parameters) == dict(b.parameters)
        assert (a.rhs - b.rhs).applyfunc(sympy.simplify) == sympy.zeros(len(a.states), 1)
        np.testing.assert_array_equal(a.initial_state, b.initial_state)
    jrc = sr.load("jansen_rit.JRC")
    again = sr.load(f"{sr.save(jrc, tmp_path / 'jrc.yaml')}:JRC")
    assert sr.build(jrc).rhs == sr.build(again).rhs


BAD_BASE = """\
Op:
  base: OperatorTemplate
  equations: ["x' = -x + i"]
  variables: {x: output(1.0), i: input(0.0)}
N: {base: NodeTemplate, operators: [Op]}
"""


@pytest.mark.parametrize(
    "text, ref, error, match",
    [
        ("A: {base: OperatorTemplate, equations: ['x = '], variables: {x: variable}}", "A",
         EquationParseError, r"x = "),
        ("A:\n  base: OperatorTemplate\n  equations: [x' = -x\n", "A",
         ModelDefinitionError, r"Malformed YAML in .*bad.yaml' at line \d+"),
        ("A: {base: Nope}", "A", ModelDefinitionError,
         r"No model file for 'Nope'|Cannot resolve the model reference 'Nope'"),
        ("A: {base: OperatorTemplate, equation: [], variables: {}}", "A", ModelDefinitionError,
         r"template 'A' in .* has unknown keys \['equation'\]"),
        ("A: {base: B}\nB: {base: A}", "A", ModelDefinitionError,
         r"refer to each other in a cycle: A -> B -> A"),
        ("A: {base: OperatorTemplate, equations: [], variables: {}}", "Missing",
         ModelDefinitionError, r"No template 'Missing' in .*Templates there: A"),
        ("- just\n- a list", "A", ModelDefinitionError, r"must hold a mapping"),
        ("A: {base: OperatorTemplate, equations: {replace: {x: y}}, variables: {x: variable}}",
         "A", ModelDefinitionError, r"edits equations .* has no base template"),
        (BAD_BASE + "A: {base: CircuitTemplate, nodes: {a: N, b: N}, "
                    "edges: [[a/Op/x, b/Op/i, null, 5]]}", "A", ModelDefinitionError,
         r"Edge \['a/Op/x', 'b/Op/i', None, 5\] of template 'A' in '.*bad.yaml': the fourth "
         r"entry must be a mapping of edge attributes .* got 5. Write the weight as \{weight: 5\}"),
        (BAD_BASE + "A: {base: CircuitTemplate, nodes: {a: N}, edges: [a/Op/x]}", "A",
         ModelDefinitionError, r"Edge 'a/Op/x' of template 'A' in '.*bad.yaml' must be a list "
                               r"\[source, target"),
        (BAD_BASE + "A: {base: OperatorTemplate, equations: 5, variables: {x: output}}", "A",
         ModelDefinitionError, r"'equations' of template 'A' in '.*bad.yaml' must be a string, a "
                               r"list of strings, or .* a mapping \{replace: ..., add: ..., "
                               r"remove: ...\}; got 5"),
        (BAD_BASE + "A: {base: NodeTemplate, operators: {Op: 5}}", "A", ModelDefinitionError,
         r"'operators' of template 'A' in '.*bad.yaml' maps 'Op' to 5; in the mapping form each "
         r"operator maps to \{variable: value\} .*e.g. \{Op: \{tau: 0.01\}\}"),
        (BAD_BASE + "A: {base: Op, equations: {add: 5}}", "A", ModelDefinitionError,
         r"'add' in the equations of template 'A' in '.*bad.yaml' must be a string or a list of "
         r"strings \(the equations to add\), got 5"),
        (BAD_BASE + "A: {base: Op, equations: {remove: 5}}", "A", ModelDefinitionError,
         r"'remove' in the equations of template 'A' in '.*bad.yaml' must be a string or a list "
         r"of strings \(the equations or variables to remove\), got 5"),
        (BAD_BASE + "A: {base: Op, equations: {remove: [x, 5]}}", "A", ModelDefinitionError,
         r"'remove' in the equations of .* got \['x', 5\]"),
    ],
)
def test_yaml_errors(tmp_path, text, ref, error, match):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(error, match=match):
        sr.load(f"{f}:{ref}")


def test_missing_library_model_and_file():
    with pytest.raises(ModelDefinitionError, match=r"No template 'JRX'.*Templates there: .*JRC"):
        sr.load("jansen_rit.JRX")
    with pytest.raises(ModelDefinitionError, match=r"No model file for 'nosuchfamily.M'"):
        sr.load("nosuchfamily.M")
    with pytest.raises(ModelDefinitionError, match=r"does not exist"):
        sr.load("/nonexistent/file.yaml:M")
    with pytest.raises(ModelDefinitionError, match=r"Cannot resolve the model reference 'JRC'"):
        sr.load("JRC")


def test_yaml_is_loaded_safely(tmp_path):
    marker = tmp_path / "pwned"
    f = tmp_path / "evil.yaml"
    f.write_text(
        "A: !!python/object/apply:os.system ['touch " + str(marker) + "']\n"
    )
    with pytest.raises(ModelDefinitionError, match=r"Malformed YAML"):
        sr.load(f"{f}:A")
    assert not marker.exists()


def test_list_models_and_library():
    models = sr.list_models()
    assert "jansen_rit.JRC" in models
    assert all(isinstance(sr.load(m), (sr.NodeTemplate, sr.CircuitTemplate)) for m in models)


def test_round_trip_keeps_paths_of_updated_operators(tmp_path):
    from tests.scenarios import two_leaky_chain

    circ = two_leaky_chain(weight=2.0).update({"b/li/tau": 7.0})
    text = sr.to_yaml(circ)
    assert "li_2" not in text and "tau: 7.0" in text
    again = sr.load(f"{sr.save(circ, tmp_path / 'c.yaml')}:chain")
    a, b = sr.build(circ), sr.build(again)
    assert a.states == b.states and dict(a.parameters) == dict(b.parameters)
    assert a.rhs == b.rhs


def test_writing_two_different_operators_of_one_name_is_an_error():
    one = sr.OperatorTemplate("op", ["x' = -x"], {"x": "output"})
    two = sr.OperatorTemplate("op", ["x' = x"], {"x": "output"})
    circ = sr.CircuitTemplate("c", {"a": sr.NodeTemplate("A", [one]),
                                    "b": sr.NodeTemplate("B", [two])})
    with pytest.raises(ModelDefinitionError, match=r"two different OperatorTemplates are both "
                                                   r"named 'op'.*rename one"):
        sr.to_yaml(circ)


def test_edits_reach_templates_of_other_files_that_use_them(tmp_path):
    import os

    op = "Op:\n  base: OperatorTemplate\n  equations: [\"x' = -x/tau\"]\n" \
         "  variables: {x: output(1.0), tau: %s}\n"
    c = tmp_path / "c.yaml"
    c.write_text(op % "1.0")
    write(tmp_path / "b.yaml", "N:\n  base: NodeTemplate\n  operators: [c.yaml:Op]\n")
    a = write(tmp_path / "a.yaml", "C:\n  base: CircuitTemplate\n  nodes: {n: b.yaml:N}\n")
    first = sr.load(f"{a}:C")
    assert sr.load(f"{a}:C") is first                     # unchanged files stay cached
    assert sr.build(first).parameters == {"n/Op/tau": 1.0}
    c.write_text(op % "5.0")                               # same size: the time tells
    stat = c.stat()
    os.utime(c, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert sr.build(f"{a}:C").parameters == {"n/Op/tau": 5.0}
    assert sr.build(f"{tmp_path / 'b.yaml'}:N").parameters == {"N/Op/tau": 5.0}


def test_replace_substitutes_all_pairs_at_once(tmp_path):
    f = write(tmp_path / "swap.yaml", """
        Op:
          base: OperatorTemplate
          equations: ["x' = a - b*x", "y' = x - y"]
          variables: {x: output(0.0), y: variable(0.0), a: 1.0, b: 2.0}
        Swap:
          base: Op
          equations: {replace: {a: b, b: a}}
        SwapStates:
          base: Op
          equations: {replace: {x: y, y: x}}
    """)
    assert sr.load(f"{f}:Swap").equations == ("x' = -a*x + b", "y' = x - y")
    assert sr.load(f"{f}:SwapStates").equations == ("y' = a - b*y", "x' = -x + y")


def test_a_cycle_across_files_is_reported_whole(tmp_path):
    write(tmp_path / "a.yaml", "A:\n  base: b.yaml:B\n")
    write(tmp_path / "b.yaml", "B:\n  base: c.yaml:C\n")
    write(tmp_path / "c.yaml", "C:\n  base: a.yaml:A\n")
    a, b, c = (re.escape(str(tmp_path / f"{n}.yaml")) for n in "abc")
    with pytest.raises(ModelDefinitionError,
                       match=rf"Templates of several files refer to each other in a cycle: "
                             rf"{a}:A -> {b}:B -> {c}:C -> {a}:A. A template cannot be based "
                             rf"on, or made of, itself; break the cycle"):
        sr.load(f"{tmp_path / 'a.yaml'}:A")


def test_writing_an_edge_named_like_an_operator_is_an_error_that_says_so():
    lp = sr.OperatorTemplate("lp", ["s' = (u - s)/tau"],
                             {"s": "output(0.0)", "u": "input(0.0)", "tau": 0.1})
    op = sr.OperatorTemplate("Op", ["x' = -x + i"], {"x": "output(1.0)", "i": "input(0.0)"})
    circ = sr.CircuitTemplate("C", {"a": op, "b": op},
                              [("a/x", "b/i", sr.EdgeTemplate("lp", [lp]), {})])
    with pytest.raises(ModelDefinitionError,
                       match=r"Cannot write 'C' to YAML: an OperatorTemplate and an EdgeTemplate "
                             r"are both named 'lp'.*rename one of them, e.g. the edge to "
                             r"'lp_edge'"):
        sr.to_yaml(circ)
