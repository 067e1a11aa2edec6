"""The arithmetic of the generated kernels that is ours rather than libm's or the compiler's:
the branch-free ``exp`` that lets sigmoid loops vectorise, and the sparse product with its
fixed order of partial sums. Both must be exact to the last bits claimed, and give the same
bits in vector lanes and scalar remainders (so results never depend on where threads split
a loop).
"""

import numpy as np
import pytest
import scipy.sparse as sp

import symrates as sr
from symrates.runtime.compiled import CompiledProblem, kernel_module
from symrates.runtime.problem_numpy import ProblemSetup


@pytest.fixture(scope="module")
def module():
    """A compiled kernel module (any model: every module carries the same exp)."""
    return kernel_module(sr.build("wilson_cowan.WC_EI"))


def _kernel_exp(module, x):
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    module.exp_values(x, out)
    return out


def _ulp_error(value, x):
    """|value - exp(x)| in units in the last place of the exact result (long double ref)."""
    exact = np.exp(x.astype(np.longdouble))
    ulp = np.spacing(exact.astype(np.float64))
    return np.abs((value.astype(np.longdouble) - exact) / ulp.astype(np.longdouble))


def test_exp_is_within_1_03_ulp_over_the_whole_normal_range(module):
    if np.finfo(np.longdouble).nmant < 63:
        pytest.skip("needs an extended-precision long double as reference")
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-708.3, 709.7, 400_000), rng.uniform(-20, 20, 400_000),
                        rng.uniform(-1e-3, 1e-3, 50_000),
                        # the edges of the reduction interval, where |r| is largest
                        (np.arange(-1000, 1001) + 0.5) * np.log(2.0)])
    x = x[(x > -708.3) & (x < 709.7)]
    err = _ulp_error(_kernel_exp(module, x), x)
    assert err.max() < 1.03, float(err.max())
    assert err.mean() < 0.3


def test_exp_special_values_follow_libm(module):
    x = np.array([0.0, -0.0, 1.0, np.inf, -np.inf, np.nan, 709.78, 709.79, 710.0, 800.0,
                  -745.2, -746.0, -1000.0, 1e308, -1e308])
    got = _kernel_exp(module, x)
    assert got[0] == 1.0 and got[1] == 1.0
    assert got[2] == pytest.approx(np.e, rel=2.3e-16)
    assert got[3] == np.inf and got[4] == 0.0 and np.isnan(got[5])
    assert np.isfinite(got[6]) and got[6] == pytest.approx(np.exp(709.78), rel=3e-16)
    assert np.all(got[7:10] == np.inf) and got[13] == np.inf
    assert np.all(got[10:13] == 0.0) and got[14] == 0.0


def test_exp_underflows_gradually_like_libm(module):
    x = np.linspace(-745.0, -708.5, 2001)
    got = _kernel_exp(module, x)
    # subnormal results: within two of the smallest steps (the result is rounded twice)
    np.testing.assert_array_less(np.abs(got - np.exp(x)), 3 * 4.95e-324 + 3e-16 * np.exp(x))
    assert np.all(got > 0)


def test_exp_gives_the_same_bits_in_vector_lanes_and_scalar_remainders(module):
    x = np.random.default_rng(1).uniform(-50, 50, 1003)     # 1003: a scalar remainder
    whole = _kernel_exp(module, x)
    one_by_one = np.array([_kernel_exp(module, x[i:i + 1])[0] for i in range(len(x))])
    shifted = _kernel_exp(module, x[3:])                     # other lanes for each element
    np.testing.assert_array_equal(whole, one_by_one)
    np.testing.assert_array_equal(whole[3:], shifted)


def test_exp_rejects_arrays_of_different_length(module):
    with pytest.raises(ValueError, match="exp_values: x and out differ in length"):
        module.exp_values(np.zeros(3), np.zeros(4))


def _summing_network(W):
    """x_i' = sum_j W[i, j] x_j: the rhs is the coupling sum itself, bit for bit."""
    unit = sr.OperatorTemplate("sum", ["x' = r_in"], {"x": "output(0.0)", "r_in": "input(0.0)"})
    node = sr.NodeTemplate("S", [unit])
    return sr.build(sr.network(node, W.shape[0], couplings=[
        sr.Coupling("sum/x", "sum/r_in", W)]))


def test_sparse_rows_of_every_length_sum_exactly_in_their_fixed_order():
    # rows of 0 ... 40 entries (the short-row path, the 8- and 4-steps and the remainder),
    # at a density that keeps the sparse product (below DENSE_MIN_DENSITY)
    n = 205
    rng = np.random.default_rng(2)
    rows, cols = [], []
    for i in range(n):
        c = rng.choice(n, size=i % 41, replace=False)
        rows += [i] * len(c)
        cols += list(c)
    values = rng.uniform(-1, 1, len(rows))
    W = sp.csr_matrix((values, (rows, cols)), shape=(n, n))
    system = _summing_network(W)
    problem = CompiledProblem(ProblemSetup(system), kernel_module(system))
    assert problem.dense_couplings == ()
    x = rng.uniform(-1, 1, n)
    got = problem.rhs(0.0, x, 0)

    # the documented order: eight sums while eight entries remain, then sums 0-3 for four,
    # the rest (or a whole row of fewer than four entries) into sum 0
    expected = np.empty(n)
    for i in range(n):
        lo, hi = W.indptr[i], W.indptr[i + 1]
        terms = W.data[lo:hi] * x[W.indices[lo:hi]]
        if hi - lo < 4:
            acc = 0.0
            for term in terms:
                acc += term
            expected[i] = 0.0 + acc
            continue
        s = [0.0] * 8
        e = 0
        while e + 8 <= len(terms):
            for m in range(8):
                s[m] += terms[e + m]
            e += 8
        if e + 4 <= len(terms):
            for m in range(4):
                s[m] += terms[e + m]
            e += 4
        for term in terms[e:]:
            s[0] += term
        expected[i] = 0.0 + (((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])))
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(got, W @ x, rtol=0, atol=1e-14)


def test_couplings_with_one_entry_per_row_take_their_own_path_and_give_the_same_values():
    # N copies of the JRC circuit: its internal edges are one entry per row; the network
    # coupling is general CSR; compiled against numpy in every sample (rtol 1e-12)
    from tests.codegen.test_compiled import assert_agree

    n = 30
    rng = np.random.default_rng(6)
    W = np.where(rng.uniform(size=(n, n)) < 0.1, rng.uniform(size=(n, n)), 0.0)
    np.fill_diagonal(W, 0.0)
    system = sr.build(sr.network("jansen_rit.JRC", n, couplings=[
        sr.Coupling("pc/PRO/m_out", "pc/RPO_e_pc/m_in", W)]))
    problem = CompiledProblem(ProblemSetup(system), kernel_module(system))
    # PC -> EIN/IIN, EIN -> PC, IIN -> PC; the network coupling (3) is general CSR
    assert problem.one_per_row_couplings == (0, 1, 2)
    assert len(problem.setup.spec.couplings) == 4 and problem.dense_couplings == ()
    options = dict(dt=1e-4, method="rk4", sampling=5e-4, y0=np.zeros(system.n_states),
                   inputs={"u": 220.0 + 22.0 * rng.standard_normal((1000, n))})
    assert_agree(sr.simulate(system, 0.1, backend="cython", **options),
                 sr.simulate(system, 0.1, backend="numpy", **options))


def test_float32_storage_multiplies_one_entry_per_row_couplings_in_double():
    # two couplings into one input: rows of 1-3 entries (assigned first), then one entry per
    # row (added): with float32 storage every product and sum is still double, rounded to
    # float32 once per store
    n = 64
    rng = np.random.default_rng(0)
    W1 = sp.csr_matrix(sp.eye(n) * 0.3 + sp.eye(n, k=1) * 0.7 + sp.eye(n, k=5) * 0.11)
    W2 = sp.csr_matrix((rng.uniform(0.1, 1, n), (np.arange(n), rng.permutation(n))),
                       shape=(n, n))
    unit = sr.OperatorTemplate("sum", ["x' = r_in"], {"x": "output(0.0)", "r_in": "input(0.0)"})
    system = sr.build(sr.network(sr.NodeTemplate("S", [unit]), n, couplings=[
        sr.Coupling("sum/x", "sum/r_in", W1), sr.Coupling("sum/x", "sum/r_in", W2)]))
    problem = CompiledProblem(ProblemSetup(system), kernel_module(system, precision="float32"))
    assert problem.one_per_row_couplings == (1,)
    x = rng.uniform(-1, 1, n).astype(np.float32).astype(float)
    got = problem.rhs(0.0, x, 0)
    f32 = lambda v: float(np.float32(v))          # noqa: E731
    expected = np.empty(n)
    for i in range(n):
        acc = 0.0
        for e in range(W1.indptr[i], W1.indptr[i + 1]):
            acc += f32(W1.data[e]) * x[W1.indices[e]]
        c1 = f32(0.0 + acc)
        j = W2.indptr[i]
        expected[i] = f32(c1 + (0.0 + f32(W2.data[j]) * x[W2.indices[j]]))
    np.testing.assert_array_equal(got, expected)


def test_rhs_refuses_an_output_that_overlaps_the_state():
    system = _summing_network(np.ones((3, 3)) / 3)
    problem = CompiledProblem(ProblemSetup(system), kernel_module(system))
    y = np.ones(system.n_states)
    with pytest.raises(ValueError, match="y and dy overlap in memory; pass a separate output"):
        problem.kernel.rhs(0.0, y, y, 0)


def test_the_stored_sources_key_covers_the_included_math_header(monkeypatch):
    # a kept kernel source must not outlive a change of _sr_math.h, which the template includes
    from pathlib import Path

    from symrates.runtime import compiled

    compiled._generator_hash.cache_clear()
    before = compiled._generator_hash()
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: real(self) + (
        b"/* changed */" if self.name == "_sr_math.h" else b""))
    compiled._generator_hash.cache_clear()
    try:
        assert compiled._generator_hash() != before
    finally:
        monkeypatch.undo()
        compiled._generator_hash.cache_clear()
    assert compiled._generator_hash() == before


def test_both_renderers_refuse_a_coupling_into_an_input_its_group_lacks():
    import dataclasses

    from symrates.codegen.render import render
    from symrates.codegen.render_batch import render_batch
    from symrates.errors import CodegenError
    from symrates.runtime.problem_numpy import lowered

    spec = lowered(sr.build("jansen_rit.JRC"))
    bad = dataclasses.replace(spec, couplings=(
        dataclasses.replace(spec.couplings[0], target_cin="nowhere"), *spec.couplings[1:]))
    message = r"Coupling 0 of 'JRC' targets 'nowhere', which is not a coupled input of group"
    with pytest.raises(CodegenError, match=message):
        render(bad)
    with pytest.raises(CodegenError, match=message):
        render_batch(bad, ())
