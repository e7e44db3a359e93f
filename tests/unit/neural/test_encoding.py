"""Encoding: FFT null equals the naive loop; the null holds where naive Pearson fails; power."""

import warnings

import numpy as np
import pytest
from scipy import stats

from mouseface._errors import InputError
from mouseface.neural.encoding import (
    _masked_rows,
    calcium_convolve,
    choose_shifts,
    encode,
    naive_encode,
    selectivity_index,
    shifted_correlations,
)
from mouseface.synth.neurons import simulate_population

FS = 20.0


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # p-floor advice, NaN counts
        yield


def test_fft_null_equals_the_loop_of_rolled_correlations():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 1000)), rng.normal(size=(3, 1000))
    x[2] = np.cumsum(x[2])  # an autocorrelated one too
    shifts = np.array([1, 17, 400, 999])
    got = shifted_correlations(x, y, shifts)
    want = np.array([[[np.corrcoef(np.roll(x[i], -s), y[j])[0, 1] for s in shifts]
                      for j in range(3)] for i in range(7)])
    np.testing.assert_allclose(got, want, atol=2e-5)


def test_p_value_counts_exceedances_of_the_circular_null():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(4, 2000)), rng.normal(size=(2, 2000))
    enc = encode(x, y, fs=FS, n_shifts=300, min_shift=5.0, seed=3)
    null = shifted_correlations(x, y, enc.shifts)
    want = (1 + (np.abs(null) >= np.abs(enc.r)[..., None]).sum(-1)) / (1 + 300)
    np.testing.assert_allclose(enc.p, want)
    assert enc.shifts.min() >= 100 and enc.shifts.max() <= 1900  # ≥ 5 s either way round
    np.testing.assert_allclose(enc.q.ravel(), stats.false_discovery_control(enc.p.ravel()))


def test_null_holds_where_naive_pearson_fails(bouts):
    ours, naive = [], []
    for seed in range(3):
        y, t = bouts(seed, n_expr=4, seconds=600, fs=FS)
        pop = simulate_population(y, t, 150, coupled={}, seed=seed)
        enc = encode(pop.traces, y, fs=FS, seed=seed)
        ours.append(enc.significant.mean())
        nv = naive_encode(pop.traces, y)
        naive.append(nv["significant"].mean())
        ref = stats.pearsonr(pop.traces[5].astype(float), y[2])  # naive = scipy's pearsonr
        assert nv["p"][5, 2] == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-300)
    assert np.mean(ours) <= 0.05
    assert np.mean(naive) >= 0.3  # why the circular-shift null exists
    assert np.mean(naive) > 6 * max(np.mean(ours), 0.05)


def test_null_p_values_are_roughly_uniform(bouts):
    y, t = bouts(7, n_expr=2, seconds=600, fs=FS)
    pop = simulate_population(y, t, 300, coupled={}, seed=7)
    enc = encode(pop.traces, y, fs=FS, n_shifts=500, seed=7)
    assert np.mean(enc.p <= 0.05) < 0.1  # nominal 0.05; autocorrelation keeps it near
    assert 0.35 < np.median(enc.p) < 0.65


@pytest.mark.parametrize("seed", [11, 12])
def test_power_at_snr_half(bouts, seed):
    # SNR 0.5: std of the kernel-convolved drive = half the std of the neuron's own noise
    # (r with its expression about 0.45); 10 min at 20 Hz, 1000 shifts, FDR 0.05. Over seeds
    # 10-21 precision was 0.95-1.0 and recall 1.0.
    y, t = bouts(seed, n_expr=4, seconds=600, fs=FS)
    coupled = {i: i % 4 for i in range(80)}  # 80 of 300 neurons, 20 per expression
    pop = simulate_population(y, t, 300, coupled=coupled, snr=0.5, seed=seed)
    enc = encode(pop.traces, y, fs=FS, seed=seed)
    called = enc.positive.any(axis=1)
    truth = pop.truth["coupled"].to_numpy()
    precision = (called & truth).sum() / called.sum()
    recall = (called & truth).sum() / truth.sum()
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)
    right = [enc.preferred[i] == f"e{j}" for i, j in coupled.items() if called[i]]
    assert all(right)
    assert np.all(enc.selectivity[list(coupled)] > 0.5)


def test_nan_frames_are_excluded_and_counted(bouts):
    y, t = bouts(3, n_expr=2, seconds=300, fs=FS)
    pop = simulate_population(y, t, 6, coupled={0: 0, 1: 1}, snr=1.0, seed=3)
    x = pop.traces.astype(float).copy()
    x[0, 100:300] = np.nan   # a gap in one neuron
    y = y.copy()
    y[1, 50:60] = np.nan     # a gap in one expression: excluded for every neuron
    with pytest.warns(UserWarning, match="200 NaN neuron frames in 1 neurons and 10 NaN "
                      "expression frames excluded"):
        enc = encode(x, y, fs=FS, n_shifts=200)
    assert enc.n_excluded.tolist() == [210, 10, 10, 10, 10, 10]
    assert enc.n_frames[0] == t.size - 10 - 200
    assert np.all(np.isfinite(enc.r)) and np.all(np.isfinite(enc.p))
    keep = np.isfinite(y).all(axis=0)
    ok = keep & np.isfinite(x[0])
    assert enc.r[0, 0] == pytest.approx(np.corrcoef(x[0, ok], y[0, ok])[0, 1], abs=1e-9)
    assert enc.preferred[:2].tolist() == ["e0", "e1"]
    # the masked null equals brute force on the rolled traces with NaNs dropped
    x0 = x[0, keep]
    y0 = (y[0, keep] - y[0, keep].mean()) / y[0, keep].std()
    null = []
    for s in enc.shifts[:20]:
        xr = np.roll(x0, -s)
        m = np.isfinite(xr)
        null.append(np.corrcoef(xr[m], y0[m])[0, 1])
    null = np.array(null)
    r, counts, sd = np.zeros((1, 1)), np.zeros((1, 1), np.int64), np.zeros((1, 1))
    _masked_rows(x0[None], np.array([0]), np.isfinite(x0)[None], y0[None], r, counts, sd,
                 enc.shifts[:20])
    assert r[0, 0] == pytest.approx(enc.r[0, 0], abs=1e-12)
    assert counts[0, 0] == (np.abs(null) >= np.abs(r[0, 0])).sum()
    assert sd[0, 0] == pytest.approx(null.std(), abs=1e-9)


def test_an_all_nan_or_constant_neuron_gets_no_statistic():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 2000))
    x[1] = np.nan
    x[2] = 1.0
    enc = encode(x, rng.normal(size=(1, 2000)), fs=FS, n_shifts=100)
    assert np.isfinite(enc.p[0]).all() and np.isnan(enc.p[1:]).all()
    assert not enc.significant[1:].any() and enc.preferred[1:].tolist() == ["", ""]


def test_bad_shapes_and_short_recordings():
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="traces have 100 frames but expressions 90"):
        encode(rng.normal(size=(2, 100)), rng.normal(size=(1, 90)), fs=FS)
    with pytest.raises(InputError, match=r"recording of 15\.0 s is too short for a minimum "
                       "shift of 10 s"):
        encode(rng.normal(size=(2, 300)), rng.normal(size=(1, 300)), fs=FS)
    with pytest.warns(UserWarning, match="only 201 distinct shifts"):
        warnings.simplefilter("always")
        assert choose_shifts(600, FS, n_shifts=1000, min_shift=10.0).size == 201


def test_kernel_and_selectivity():
    y = np.zeros((1, 100))
    y[0, 10] = 1.0
    z = calcium_convolve(y, fs=10.0, tau=0.7)
    assert np.all(z[0, :10] == 0) and z[0, 10] > 0  # causal
    assert z.sum() == pytest.approx(1.0, abs=1e-4)  # unit area
    assert np.all(np.diff(z[0, 10:]) < 0)
    si = selectivity_index(np.array([[0.5, 0.1, 0.1], [0.2, 0.2, -0.1]]))
    np.testing.assert_allclose(si, [(0.5 - 0.1) / 0.6, (0.2 - 0.1) / 0.3])


def test_kernel_helps_when_neurons_follow_through_gcamp(bouts):
    y, t = bouts(5, n_expr=2, seconds=300, fs=FS)
    pop = simulate_population(y, t, 4, coupled={0: 0, 1: 1}, snr=1.0, seed=5,
                              tau_decay=2.0)
    plain = encode(pop.traces, y, fs=FS, n_shifts=200)
    conv = encode(pop.traces, y, fs=FS, n_shifts=200, tau=2.0)
    assert conv.r[0, 0] > plain.r[0, 0] and conv.r[1, 1] > plain.r[1, 1]
