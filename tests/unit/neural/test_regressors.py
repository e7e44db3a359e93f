"""Signals before a test: the high-pass's stated gain, lagged regressors, residuals."""

import numpy as np
import pytest
from scipy import ndimage

from mouseface._errors import InputError
from mouseface.neural.regressors import (
    exponential_filter,
    gaussian_lowpass,
    highpass,
    lag_basis,
    residualize,
    segment_bounds,
)

FS = 10.0


@pytest.mark.parametrize("period,gain", [(60.0, 0.5), (30.0, 0.9375), (15.0, 1.0),
                                         (120.0, 0.159)])
def test_high_pass_gain_is_the_stated_one(period, gain):
    t = np.arange(int(1800 * FS)) / FS
    x = np.sin(2 * np.pi * t / period)[None]
    y = highpass(x, FS, 60.0)
    mid = slice(len(t) // 4, 3 * len(t) // 4)  # away from the ends
    assert y[0, mid].std() / x[0, mid].std() == pytest.approx(gain, abs=0.01)


def test_high_pass_removes_trends_and_bleaching_and_keeps_nan():
    t = np.arange(6000) / FS
    rng = np.random.default_rng(0)
    fast = rng.normal(size=t.size)
    x = np.vstack([fast + 0.01 * t, fast * np.exp(-t / 300) + np.exp(-t / 300)])
    x[1, 100:200] = np.nan
    y = highpass(x, FS, 60.0)
    assert np.isnan(y[1, 100:200]).all() and np.isfinite(y[1, 200:]).all()
    assert abs(np.polyfit(t, y[0], 1)[0]) < 1e-4
    low = ndimage.gaussian_filter1d(np.nan_to_num(y[1]), 30 * FS)  # nothing slow is left
    assert np.abs(low[600:-600]).max() < 0.05


def test_filters_restart_at_each_session():
    x = np.concatenate([np.zeros(500), np.full(500, 10.0)])[None]
    y = highpass(x, FS, 60.0, segments=[500, 500])
    np.testing.assert_allclose(y, 0.0, atol=1e-9)  # each session is flat on its own
    z = exponential_filter(x, FS, 2.0, segments=[500, 500])
    np.testing.assert_allclose(z, x)  # started at each session's first value
    with pytest.raises(InputError, match="must be positive and sum to the 1000 frames"):
        segment_bounds([500, 400], 1000)


def test_lag_basis_is_causal_except_its_one_lead():
    x = np.zeros((1, 400))
    x[0, 200] = 1.0
    b = lag_basis(x, FS, taus=(0.0, 0.5, 2.0), lead=0.5)
    raw = np.stack([exponential_filter(x, FS, tau)[0] for tau in (0.0, 0.5, 2.0)]
                   + [exponential_filter(x, FS, 0.5, reverse=True)[0]], axis=1)
    before = slice(0, 200)
    assert np.all(raw[before, :3] == 0) and raw[199, 3] > 0  # only the lead sees ahead
    np.testing.assert_allclose(b.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(b.std(axis=0), 1)


def test_residualize_equals_least_squares_and_ignores_nan():
    rng = np.random.default_rng(1)
    d = rng.normal(size=(300, 4))
    x = rng.normal(size=(3, 300)) + (d @ rng.normal(size=(4, 3))).T
    x[2, 10:20] = np.nan
    got = residualize(x, d, ridge=0.0)
    for i in range(3):
        m = np.isfinite(x[i])
        a = np.column_stack([np.ones(m.sum()), d[m]])
        want = x[i, m] - a @ np.linalg.lstsq(a, x[i, m], rcond=None)[0]
        np.testing.assert_allclose(got[i, m], want, atol=1e-8)
    assert np.isnan(got[2, 10:20]).all()


def test_gaussian_lowpass_matches_scipy_away_from_the_ends():
    x = np.random.default_rng(2).normal(size=(2, 4000)).cumsum(axis=1)
    for sigma in (3.0, 80.0):
        ours = gaussian_lowpass(x, sigma)
        ref = ndimage.gaussian_filter1d(x, sigma, axis=1, mode="reflect")
        assert np.abs(ours - ref)[:, 400:-400].max() < 1e-3 * np.abs(x).max()
