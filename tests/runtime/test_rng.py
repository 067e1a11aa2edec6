"""The counter-based normal stream."""

import numpy as np
import pytest
from scipy import stats

from symrates.runtime.rng import mix64, normals, uniforms


def test_splitmix64_reference_values():
    # SplitMix64 with state 0: the first outputs of the published generator
    gamma = np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        states = np.arange(1, 4, dtype=np.uint64) * gamma
    assert [int(x) for x in mix64(states)] == [
        0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]


def test_numbers_depend_only_on_seed_step_and_index():
    a = normals(11, 5, np.arange(1000), stride=1000)
    b = np.concatenate([normals(11, 5, np.arange(500, 1000), stride=1000),
                        normals(11, 5, np.arange(500), stride=1000)])
    np.testing.assert_array_equal(a, np.roll(b, 500))
    assert not np.array_equal(a, normals(12, 5, np.arange(1000), stride=1000))
    assert not np.array_equal(a, normals(11, 6, np.arange(1000), stride=1000))


def test_distribution_is_standard_normal():
    x = np.concatenate([normals(3, k, np.arange(10_000), stride=10_000) for k in range(20)])
    assert abs(x.mean()) < 4 / np.sqrt(x.size)
    assert abs(x.var() - 1) < 4 * np.sqrt(2 / x.size)
    assert stats.kstest(x, "norm").pvalue > 1e-3
    # neighbouring indices and steps are uncorrelated
    y = normals(3, 0, np.arange(100_000), stride=100_000)
    assert abs(np.corrcoef(y[:-1], y[1:])[0, 1]) < 4 / np.sqrt(y.size)
    u = uniforms(3, np.arange(100_000))
    assert 0 < u.min() and u.max() < 1


def test_bad_seed():
    with pytest.raises(ValueError, match=r"seed must be an integer >= 0, got -1"):
        normals(-1, 0, np.arange(2), stride=2)
