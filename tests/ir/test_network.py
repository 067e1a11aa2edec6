"""Networks of coupled units: matrix-native building, equivalence to circuits, the B1 reference."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import symrates as sr
from symrates.errors import ModelDefinitionError

# the project's shared/ folder lies beside the checkout (CI copies it there too)
PEERS = Path(__file__).resolve().parents[2].parent / "shared" / "peers"
SRC, TGT = "pc/PRO/m_out", "pc/RPO_e_pc/m_in"


def test_network_equals_the_same_circuit_written_out():
    rng = np.random.default_rng(5)
    n = 3
    W = rng.uniform(size=(n, n)) * (1 - np.eye(n))
    D = np.zeros((n, n))
    net = sr.network("jansen_rit.JRC", n, couplings=[sr.Coupling(SRC, TGT, W)],
                     params={"u": [180.0, 220.0, 260.0]})
    jrc = sr.load("jansen_rit.JRC")
    nodes = {f"c{i}": jrc.update({"u": u}) for i, u in enumerate([180.0, 220.0, 260.0])}
    edges = [(f"c{j}/{SRC}", f"c{i}/{TGT}", None, {"weight": W[i, j], "delay": D[i, j]})
             for i in range(n) for j in range(n) if W[i, j]]
    circuit = sr.CircuitTemplate("copies", nodes, edges)
    a = sr.simulate(net, 0.2, dt=1e-4, method="rk4", sampling=1e-2)
    b = sr.simulate(circuit, 0.2, dt=1e-4, method="rk4", sampling=1e-2)
    for path in sr.build(jrc).states:
        for i in range(n):
            np.testing.assert_allclose(a[path][:, i], b[f"c{i}/{path}"], rtol=1e-12, atol=1e-15)
    # the same groups, with node-major units
    assert [(g.name, g.n) for g in sr.build(net).groups] == [("PC", 3), ("EIN", 6)]


def test_uncoupled_heterogeneous_units_run_like_single_models():
    # a single model runs the compiled loop of one copy, which calls libm's exp where a
    # network's loop calls _sr_exp (both within ~1 ulp): JR6 (sigmoids) agrees to 1e-12, the
    # QIF mean field (no exp) bit for bit
    p = np.array([120.0, 220.0, 300.0])
    net = sr.network("jansen_rit.JR6", 3, params={"p": p})
    res = sr.simulate(net, 0.3, dt=1e-4, outputs=["y1"])
    assert res["y1"].shape == (3001, 3)
    for i, value in enumerate(p):
        single = sr.simulate("jansen_rit.JR6", 0.3, dt=1e-4, outputs=["y1"], params={"p": value})
        np.testing.assert_allclose(res["y1"][:, i], single["y1"], rtol=1e-12,
                                   atol=1e-12 * np.abs(single["y1"]).max())
    np.testing.assert_array_equal(sr.build(net).parameters["JR6/JR6_op/p"], p)
    eta = np.array([-6.0, -5.0, -3.0])
    res = sr.simulate(sr.network("montbrio.QIF", 3, params={"eta": eta}), 5.0, dt=1e-3,
                      outputs=["r"])
    for i, value in enumerate(eta):
        single = sr.simulate("montbrio.QIF", 5.0, dt=1e-3, outputs=["r"], params={"eta": value})
        np.testing.assert_array_equal(res["r"][:, i], single["r"])


def _b1(n, steps, seed=42, density=0.1):
    """Connectivity and input of BENCHMARKS.md B1 (same recipe as the peer scripts)."""
    rng = np.random.default_rng(seed)
    C = rng.uniform(size=(n, n))
    C[C > density] = 0.0
    np.fill_diagonal(C, 0.0)
    s = C.sum(axis=1)
    C[s > 0] /= s[s > 0, None]
    u = 220 + 22 * rng.standard_normal((steps, n))
    return C, u


@pytest.mark.parametrize(("n", "t_end"), [(10, 1.0), (1000, 0.05)])
def test_b1_network_matches_the_numpy_peer_reference(n, t_end):
    script = PEERS / "numpy_jrc_reference.py"
    assert script.exists(), f"the peer reference {script} is needed (shared/ beside the checkout)"
    out = subprocess.run([sys.executable, str(script), "-n", str(n), "-T", str(t_end)],
                         capture_output=True, text=True, check=True).stdout
    ref = json.loads(out.strip().splitlines()[-1])
    ref = ref.get("checksum", ref)
    steps = int(round(t_end / 1e-4))
    W, u = _b1(n, steps)
    net = sr.network("jansen_rit.JRC", n, couplings=[sr.Coupling(SRC, TGT, sp.csr_matrix(W))])
    res = sr.simulate(net, t_end, dt=1e-4, method="euler", inputs={"u": u}, sampling=1e-3,
                      outputs=["pc/RPO_e_pc/v", "pc/RPO_i/v"], y0=np.zeros(8 * n))
    v = (res["pc/RPO_e_pc/v"] + res["pc/RPO_i/v"])[:-1]     # the peer records before each step
    w = v[int(round(0.9 * len(v))):]
    got = {"mean": w.mean(), "std": w.std(), "min": w.min(), "max": w.max(),
           "node0_last": v[-1, 0], "nodeN_last": v[-1, -1]}
    for key, value in got.items():
        assert value == pytest.approx(ref[key], rel=1e-12, abs=1e-15), key


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: sr.network("jansen_rit.JRC", 0), r"must be an integer >= 1, got 0"),
        (lambda: sr.network("jansen_rit.JRC", 3,
                            couplings=[sr.Coupling(SRC, TGT, np.ones((2, 2)))]),
         r"weights of coupling 0 \(pc/PRO/m_out -> pc/RPO_e_pc/m_in\).*shape \(3, 3\)"),
        (lambda: sr.network("jansen_rit.JRC", 2, couplings=[sr.Coupling(SRC, "pc/RPO_e_pc/v",
                                                                         np.ones((2, 2)))]),
         r"target 'pc/RPO_e_pc/v' .* is not an input variable"),
        (lambda: sr.network("jansen_rit.JRC", 2, couplings=[sr.Coupling(SRC, "pc/RPO_e_pc/u",
                                                                         np.ones((2, 2)))]),
         r"target 'pc/RPO_e_pc/u' .* is not an input variable; couplings add into variables "
         r"declared as 'input\(x0\)'. Inputs: pc/RPO_e_pc/m_in"),
        (lambda: sr.network("jansen_rit.JRC", 2, couplings=[sr.Coupling("m_ot", TGT, np.eye(2))]),
         r"Unknown variable 'm_ot'"),
        (lambda: sr.network("jansen_rit.JRC", 2, couplings=[sr.Coupling(SRC, TGT, np.eye(2),
                                                                         delays=-1.0)]),
         r"delays of coupling 0 .* must be finite and >= 0"),
        (lambda: sr.network("jansen_rit.JRC", 2, params={"u": [1.0, 2.0, 3.0]}),
         r"'u' in the network of 'JRC' must be a finite number or an array of 2"),
        (lambda: sr.network("jansen_rit.JRC", 2, params={"pc/RPO_e_pc/v": 1.0}),
         r"names 'pc/RPO_e_pc/v', which is not a parameter"),
        (lambda: sr.network("jansen_rit.JRC", 2, couplings=["x"]), r"must be symrates.Coupling"),
        (lambda: sr.network("jansen_rit.JRC", 2, couplings=[sr.Coupling(SRC, TGT, [1.0, 2.0])]),
         r"weights of coupling 0 .* must be an \(n, n\) numpy array or scipy.sparse matrix, "
         r"got list"),
        (lambda: sr.network("jansen_rit.JRC", 2, couplings=[sr.Coupling(SRC, TGT, "W")]),
         r"must be an \(n, n\) numpy array or scipy.sparse matrix, got str"),
        (lambda: sr.network("jansen_rit.JRC", 2, couplings=[sr.Coupling(
            SRC, TGT, np.array([[0.0, np.nan], [1.0, 0.0]]))]),
         r"weights of coupling 0 .* contains non-finite values"),
        (lambda: sr.network("jansen_rit.JRC", 3, couplings=[sr.Coupling(
            SRC, TGT, __import__("scipy.sparse").sparse.coo_array(np.ones(3)))]),
         r"weights of coupling 0 .* got a sparse array of shape \(3,\)"),
    ],
)
def test_network_errors(make, match):
    with pytest.raises(ModelDefinitionError, match=match):
        make()


def test_a_coupling_into_a_parameter_is_an_error_not_dropped():
    op = sr.OperatorTemplate("li", ["r' = -r + k"], {"r": "output(0.0)", "k": 0.0})
    with pytest.raises(ModelDefinitionError,
                       match=r"target 'k' of coupling 0 \(r -> k\) of the network of 'li' is not "
                             r"an input variable.*Inputs: none; declare the target as an input"):
        sr.network(op, 2, couplings=[sr.Coupling("r", "k", np.array([[0, 1.0], [1.0, 0]]))])


def test_delays_are_recorded_per_edge():
    W = np.array([[0.0, 2.0], [3.0, 0.0]])
    D = np.array([[0.0, 0.01], [0.02, 0.0]])
    system = sr.build(sr.network("jansen_rit.JRC", 2,
                                 couplings=[sr.Coupling(SRC, TGT, W, delays=D)]))
    (c,) = [c for c in system.couplings if c.delays is not None]
    rows = np.repeat(np.arange(c.weights.shape[0]), np.diff(c.weights.indptr))
    assert sorted(zip(rows.tolist(), c.weights.indices.tolist(), c.weights.data.tolist(),
                      c.delays.tolist())) == [(0, 1, 2.0, 0.01), (1, 0, 3.0, 0.02)]
    assert system.has_delays


def test_a_network_of_one_unit_still_has_one_column_per_unit():
    net = sr.network("jansen_rit.JR6", 1)
    res = sr.simulate(net, 0.01, dt=1e-4, outputs=["y1"])
    assert res["y1"].shape == (101, 1)
    assert res.final_state["y1"].shape == (1,)
    assert sr.build(net).parameters["JR6/JR6_op/p"].shape == (1,)


def test_weights_in_any_form_give_the_same_couplings():
    # dense, scipy CSR with duplicates and explicit zeros, scipy COO, and the IR's own CSR
    import scipy.sparse as sp

    from symrates.ir.csr import CSR

    dense = np.array([[0.0, 2.0, 0.5], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    # row 0 as 1.5 + 0.5 in column 1 (a duplicate), 0.5 in column 2 and an explicit zero
    messy = sp.csr_matrix((np.array([1.5, 0.5, 0.5, 0.0, 1.0]), np.array([1, 1, 2, 0, 0]),
                           np.array([0, 4, 5, 5])), shape=(3, 3))
    forms = [dense, sp.csr_matrix(dense), sp.coo_matrix(dense), messy,
             CSR.from_dense(dense)]
    results = []
    for W in forms:
        system = sr.build(sr.network("jansen_rit.JRC", 3, couplings=[sr.Coupling(SRC, TGT, W)]))
        c = system.couplings[-1]
        assert isinstance(c.weights, CSR)
        results.append((c.weights.indptr.tolist(), c.weights.indices.tolist(),
                        c.weights.data.tolist()))
    assert all(r == results[0] for r in results)
    assert results[0] == ([0, 2, 3, 3], [1, 2, 0], [2.0, 0.5, 1.0])


def test_csr_constructors_products_and_conversion_agree_with_scipy():
    import scipy.sparse as sp

    from symrates.ir.csr import CSR

    rng = np.random.default_rng(3)
    rows, cols = rng.integers(0, 7, 40), rng.integers(0, 5, 40)
    data = rng.standard_normal(40)
    mine = CSR.from_coo(rows, cols, data, (7, 5))
    ref = sp.csr_matrix((data, (rows, cols)), shape=(7, 5))
    ref.sum_duplicates()
    np.testing.assert_array_equal(mine.indptr, ref.indptr)
    np.testing.assert_array_equal(mine.indices, ref.indices)
    np.testing.assert_allclose(mine.data, ref.data, rtol=1e-15)
    np.testing.assert_allclose(mine.toarray(), ref.toarray(), rtol=1e-15)
    x = rng.standard_normal(5)
    np.testing.assert_allclose(mine @ x, ref @ x, rtol=1e-14)
    converted = mine.tocsr()
    assert isinstance(converted, sp.csr_matrix)
    np.testing.assert_array_equal(converted.indices, mine.indices)
    np.testing.assert_array_equal(converted.data, mine.data)
    zeros = CSR(np.array([1.0, 0.0, 2.0]), np.array([0, 1, 1]), np.array([0, 2, 3]), (2, 2))
    kept = zeros.eliminate_zeros()
    picked = zeros.select(np.array([False, True, True]))     # keeps a stored zero
    assert picked.data.tolist() == [0.0, 2.0] and picked.indptr.tolist() == [0, 1, 2]
    # integer weights are summed as floats (int8 100 + 100 would wrap around)
    small = sp.coo_matrix((np.array([100, 100], dtype=np.int8), ([0, 0], [1, 1])), shape=(2, 2))
    assert CSR.from_sparse(small).data.tolist() == [200.0]
    with pytest.raises(ValueError, match=r"a CSR matrix has 2 dimensions, got shape \(4,\)"):
        CSR(np.ones(1), np.zeros(1), np.array([0, 1]), (4,))
    assert kept.data.tolist() == [1.0, 2.0] and kept.indptr.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match=r"inconsistent CSR arrays for shape \(2, 2\)"):
        CSR(np.ones(2), np.zeros(2), np.array([0, 1]), (2, 2))
    with pytest.raises(ValueError, match=r"W @ x: x has shape \(3,\), expected \(2,\)"):
        kept @ np.ones(3)
    with pytest.raises(ValueError, match=r"expected a 2-d array, got shape \(3,\)"):
        CSR.from_dense(np.ones(3))


def test_building_a_model_does_not_import_scipy():
    # scipy.sparse is a fifth of a warm start (BENCHMARKS.md B4): build and the compiled run
    # of a circuit must not need it
    import subprocess
    import sys

    code = ("import sys, symrates as sr; s = sr.build('jansen_rit.JRC'); "
            "sr.build(sr.network('jansen_rit.JRC', 3, couplings=[sr.Coupling("
            "'pc/PRO/m_out', 'pc/RPO_e_pc/m_in', [[0, 1, 0], [0, 0, 1], [1, 0, 0]])])); "
            "print(sorted(m for m in sys.modules if m.startswith('scipy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]"
