from __future__ import annotations

import numpy as np
import pytest

from openvggt.geometry.alignment import umeyama_alignment
from openvggt.longseq.sequences import random_sim3
from openvggt.longseq.sim3 import apply, from_matrix, robust_sim3, to_matrix


def test_weighted_umeyama_ignores_zero_weight_points_and_matches_unweighted():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(50, 3))
    m = random_sim3(rng)
    dst = apply(m, src)
    dst[:10] += rng.normal(0, 5, (10, 3))  # garbage, weight 0
    w = np.ones(50)
    w[:10] = 0
    fit = to_matrix(*umeyama_alignment(src, dst, weights=w))
    np.testing.assert_allclose(fit, m, atol=1e-10)
    plain = umeyama_alignment(src[10:], dst[10:])
    np.testing.assert_allclose(fit, to_matrix(*plain), atol=1e-12)
    with pytest.raises(ValueError, match="non-negative"):
        umeyama_alignment(src, dst, weights=-w)
    with pytest.raises(ValueError, match="at least 3"):
        umeyama_alignment(src, dst, weights=np.r_[1.0, 1.0, np.zeros(48)])


@pytest.mark.parametrize("loss", ["huber", "cauchy"])
def test_robust_sim3_exact_and_with_outliers(loss):
    rng = np.random.default_rng(1)
    src = rng.normal(size=(2000, 3)) * [3, 2, 1]
    m = random_sim3(rng)
    exact = robust_sim3(src, apply(m, src), loss=loss)
    np.testing.assert_allclose(exact.matrix, m, atol=1e-9)
    dst = apply(m, src) + rng.normal(0, 1e-3, src.shape)
    bad = rng.random(len(src)) < 0.2  # 20% gross outliers
    dst[bad] += rng.normal(0, 3.0, (bad.sum(), 3))
    robust = robust_sim3(src, dst, loss=loss)
    plain = to_matrix(*umeyama_alignment(src, dst))
    err_robust = np.abs(robust.matrix - m).max()
    assert err_robust < 0.02
    assert err_robust < 0.2 * np.abs(plain - m).max()  # the plain least-squares fit is pulled away
    assert 0.7 < robust.inlier_fraction < 0.9
    assert abs(from_matrix(robust.matrix).scale - from_matrix(m).scale) < 0.02 * from_matrix(m).scale


def test_robust_sim3_needs_three_points():
    with pytest.raises(ValueError, match="at least 3"):
        robust_sim3(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="loss"):
        robust_sim3(np.eye(3), np.eye(3), loss="l7")
