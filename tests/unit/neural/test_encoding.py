"""Encoding: both shift nulls equal brute force; the nulls hold where naive Pearson fails; power.

The nulls on realistic (drifting, bleaching) sessions are tested in test_null_realistic.py.
"""

import warnings

import numpy as np
import pytest
from scipy import stats

from mouseface._errors import InputError
from mouseface.neural.encoding import (
    calcium_convolve,
    choose_shifts,
    encode,
    linear_shifts,
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


def _corr(a, b):
    m = np.isfinite(a) & np.isfinite(b)
    return np.corrcoef(a[m], b[m])[0, 1]


def _linear_brute(x, y, segments, lags):
    """r of x over the central frames of each segment against y shifted by that segment's lag."""
    xs, ys, a = [], [], 0
    for n, k in zip(segments, lags, strict=True):
        big = n // 4
        xs.append(x[a + big:a + n - big])
        ys.append(y[a + big + k:a + n - big + k])
        a += n
    return _corr(np.concatenate(xs), np.concatenate(ys))


def _p(obs, null):
    return (1 + (np.abs(null) >= abs(obs) - 1e-9).sum()) / (1 + null.size)


def test_fft_null_equals_the_loop_of_rolled_correlations():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 1000)), rng.normal(size=(3, 1000))
    x[2] = np.cumsum(x[2])  # an autocorrelated one too
    shifts = np.array([1, 17, 400, 999])
    got = shifted_correlations(x, y, shifts)
    want = np.array([[[np.corrcoef(np.roll(x[i], -s), y[j])[0, 1] for s in shifts]
                      for j in range(3)] for i in range(7)])
    np.testing.assert_allclose(got, want, atol=2e-5)


def test_linear_null_equals_brute_force_with_nan_frames():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 400)).cumsum(axis=1)
    y = rng.normal(size=(2, 400)).cumsum(axis=1)
    x[1, 120:150] = np.nan  # NaN inside the tested frames: the masked path
    enc = encode(x, y, fs=10.0, highpass=0)
    assert enc.params["null"] == "linear" and enc.shifts.tolist() == linear_shifts(400).tolist()
    assert enc.shifts.min() == -100 and enc.shifts.max() == 100 and 0 not in enc.shifts
    assert enc.params["p_floor"] == pytest.approx(1 / 201)
    assert enc.n_frames.tolist() == [200, 170, 200]
    for i in range(3):
        for j in range(2):
            obs = _linear_brute(x[i], y[j], [400], [0])
            null = np.array([_linear_brute(x[i], y[j], [400], [k]) for k in enc.shifts])
            assert enc.r[i, j] == pytest.approx(obs, abs=1e-5)
            assert enc.p[i, j] == pytest.approx(_p(obs, null), abs=1e-12)
    np.testing.assert_allclose(enc.q.ravel(), stats.false_discovery_control(enc.p.ravel()))


def test_sessions_back_to_back_are_shifted_independently():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 700)).cumsum(axis=1)
    y = rng.normal(size=(2, 700)).cumsum(axis=1)
    enc = encode(x, y, fs=10.0, highpass=0, segments=[400, 300], n_shifts=300, seed=4)
    assert enc.shifts.shape == (300, 2)  # one lag per session and null draw
    assert np.all(np.abs(enc.shifts[:, 0]) <= 100) and np.all(np.abs(enc.shifts[:, 1]) <= 75)
    assert not np.any((enc.shifts == 0).all(axis=1))
    assert enc.params["shifts_per_session"] == "independent"
    for i in range(2):
        for j in range(2):
            obs = _linear_brute(x[i], y[j], [400, 300], [0, 0])
            null = np.array([_linear_brute(x[i], y[j], [400, 300], k) for k in enc.shifts])
            assert enc.r[i, j] == pytest.approx(obs, abs=1e-5)
            assert enc.p[i, j] == pytest.approx(_p(obs, null), abs=1e-12)


def test_circular_null_equals_brute_force_per_session():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 700)).cumsum(axis=1)
    y = rng.normal(size=(1, 700)).cumsum(axis=1)
    x[0, 10:20] = np.nan
    enc = encode(x, y, fs=10.0, null="circular", segments=[400, 300], n_shifts=40,
                 min_shift=2.0)
    assert enc.params["highpass"] is None  # the original test: no high-pass

    def rolled(i, k):  # the neuron rotated within each session, as shifted_correlations does
        xs = np.concatenate([np.roll(x[i, :400], -k), np.roll(x[i, 400:], -k)])
        return _corr(xs, y[0])

    for i in range(2):
        null = np.array([rolled(i, k) for k in enc.shifts])
        assert enc.r[i, 0] == pytest.approx(rolled(i, 0), abs=1e-5)
        assert enc.p[i, 0] == pytest.approx(_p(rolled(i, 0), null), abs=1e-12)


def test_p_value_counts_exceedances_of_the_circular_null():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(4, 2000)), rng.normal(size=(2, 2000))
    enc = encode(x, y, fs=FS, null="circular", n_shifts=300, min_shift=5.0, seed=3)
    null = shifted_correlations(x, y, enc.shifts)
    want = (1 + (np.abs(null) >= np.abs(enc.r)[..., None]).sum(-1)) / (1 + 300)
    np.testing.assert_allclose(enc.p, want)
    assert enc.shifts.min() >= 100 and enc.shifts.max() <= 1900  # ≥ 5 s either way round
    np.testing.assert_allclose(enc.q.ravel(), stats.false_discovery_control(enc.p.ravel()))


def test_the_high_pass_is_applied_before_the_linear_null():
    rng = np.random.default_rng(3)
    t = np.arange(3000) / 10.0
    trend = 0.05 * t  # the same trend in a neuron and an expression: a nonsense correlation
    x = np.vstack([trend + rng.normal(size=t.size)])
    y = np.vstack([trend + rng.normal(size=t.size)])
    raw = encode(x, y, fs=10.0, highpass=0)
    filtered = encode(x, y, fs=10.0)
    assert raw.r[0, 0] > 0.5 and abs(filtered.r[0, 0]) < 0.1
    assert filtered.params["highpass"] == 60.0


def test_null_holds_where_naive_pearson_fails(bouts):
    ours, circ, naive = [], [], []
    for seed in range(3):
        y, t = bouts(seed, n_expr=4, seconds=600, fs=FS)
        pop = simulate_population(y, t, 150, coupled={}, seed=seed)
        ours.append(encode(pop.traces, y, fs=FS, tau=0.7).significant.mean())
        circ.append(encode(pop.traces, y, fs=FS, null="circular", n_shifts=1000,
                           seed=seed).significant.mean())
        nv = naive_encode(pop.traces, y)
        naive.append(nv["significant"].mean())
        ref = stats.pearsonr(pop.traces[5].astype(float), y[2])  # naive = scipy's pearsonr
        assert nv["p"][5, 2] == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-300)
    assert np.mean(ours) <= 0.01 and np.mean(circ) <= 0.05
    assert np.mean(naive) >= 0.3  # why a shift null exists
    assert np.mean(naive) > 6 * max(np.mean(ours), 0.05)


def test_null_p_values_are_roughly_uniform(bouts):
    y, t = bouts(7, n_expr=2, seconds=600, fs=FS)
    pop = simulate_population(y, t, 300, coupled={}, seed=7)
    for kw in ({}, {"null": "circular", "n_shifts": 500, "seed": 7}):
        enc = encode(pop.traces, y, fs=FS, **kw)
        assert 0.02 < np.mean(enc.p <= 0.05) < 0.1, kw
        assert 0.35 < np.median(enc.p) < 0.65, kw


@pytest.mark.parametrize("seed", [11, 12])
def test_power_at_snr_half(bouts, seed):
    # SNR 0.5: std of the kernel-convolved drive = half the std of the neuron's own noise
    # (r with its expression about 0.45); 20 min at 20 Hz, 1200 tests at FDR 0.05, the default
    # linear null with the 0.7-s kernel. Over seeds 10-13 recall was 1.0 and precision ≥ 0.97.
    # In 10-min sessions recall fell to 0-0.9: a coupled neuron's p is about the width of its
    # cross-correlation peak over half the session, too coarse for 1200 tests (SNR 1 is
    # found there: recall 0.91-1.0).
    y, t = bouts(seed, n_expr=4, seconds=1200, fs=FS, n_bouts=24)
    coupled = {i: i % 4 for i in range(80)}  # 80 of 300 neurons, 20 per expression
    pop = simulate_population(y, t, 300, coupled=coupled, snr=0.5, seed=seed)
    enc = encode(pop.traces, y, fs=FS, tau=0.7)
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
    x[0, 100:300] = np.nan   # a gap in one neuron (outside the tested frames)
    x[1, 3000:3100] = np.nan   # a gap inside them
    y = y.copy()
    y[1, 50:60] = np.nan     # a gap in one expression: excluded for every neuron
    with pytest.warns(UserWarning, match="300 NaN neuron frames in 2 neurons and 10 NaN "
                      "expression frames excluded"):
        warnings.simplefilter("always")
        enc = encode(x, y, fs=FS, tau=0.7)
    assert enc.n_excluded.tolist() == [210, 110, 10, 10, 10, 10]
    n_test = enc.params["n_test_frames"]
    assert enc.n_frames.tolist() == [n_test, n_test - 100, n_test, n_test, n_test, n_test]
    assert np.all(np.isfinite(enc.r)) and np.all(np.isfinite(enc.p))
    assert enc.preferred[:2].tolist() == ["e0", "e1"]


def test_an_all_nan_or_constant_neuron_gets_no_statistic():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 2000))
    x[1] = np.nan
    x[2] = 1.0
    for null in ("linear", "circular"):
        enc = encode(x, rng.normal(size=(1, 2000)), fs=FS, null=null, n_shifts=100)
        assert np.isfinite(enc.p[0]).all() and np.isnan(enc.p[1:]).all()
        assert not enc.significant[1:].any() and enc.preferred[1:].tolist() == ["", ""]


def test_bad_arguments_and_short_recordings():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2, 300)), rng.normal(size=(1, 300))
    with pytest.raises(InputError, match="traces have 100 frames but expressions 90"):
        encode(rng.normal(size=(2, 100)), rng.normal(size=(1, 90)), fs=FS)
    with pytest.raises(InputError, match="null must be one of linear, circular; got 'rank'"):
        encode(x, y, fs=FS, null="rank")
    with pytest.raises(InputError, match=r"recording of 15\.0 s is too short for a minimum "
                       "shift of 10 s"):
        encode(x, y, fs=FS, null="circular")
    with pytest.raises(InputError, match=r"session of 15\.0 s is too short for the linear-"
                       r"shift null with shifts up to 8\.0 s"):
        encode(x, y, fs=FS, max_shift=8.0)
    with pytest.raises(InputError, match=r"segment lengths \[100, 100\] must be positive and "
                       "sum to the 300 frames"):
        encode(x, y, fs=FS, segments=[100, 100])
    with pytest.warns(UserWarning, match="only 201 distinct shifts"):
        warnings.simplefilter("always")
        assert choose_shifts(600, FS, n_shifts=1000, min_shift=10.0).size == 201


def test_a_coarse_floor_warns_with_the_number_of_pairs_it_needs():
    rng = np.random.default_rng(0)
    with pytest.warns(UserWarning, match=r"smallest p is 0\.005: Benjamini-Hochberg over "
                      r"200 tests can call a pair only if at least 20 pairs reach it; record "
                      "longer sessions"):
        warnings.simplefilter("always")
        enc = encode(rng.normal(size=(100, 400)), rng.normal(size=(2, 400)), fs=FS)
    assert enc.params["needed_at_floor"] == 20 and enc.params["n_shifts"] == 200


def test_linear_shifts_on_a_grid():
    assert linear_shifts(20).tolist() == [-5, -4, -3, -2, -1, 1, 2, 3, 4, 5]
    assert linear_shifts(400, n_shifts=10).tolist() == [-100, -80, -60, -40, -20, 20, 40, 60,
                                                        80, 100]
    with pytest.raises(InputError, match="too short for a linear shift of 3 frames"):
        linear_shifts(6, max_shift=3)


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
    plain = encode(pop.traces, y, fs=FS)
    conv = encode(pop.traces, y, fs=FS, tau=2.0)
    assert conv.r[0, 0] > plain.r[0, 0] and conv.r[1, 1] > plain.r[1, 1]
    # the kernel puts the cross-correlation's peak at zero lag: the linear null's rank drops
    assert conv.p[0, 0] < plain.p[0, 0] and conv.p[1, 1] < plain.p[1, 1]


def test_counts_agree_with_preferred_and_fractions(bouts):
    y, t = bouts(8, n_expr=3, seconds=600, fs=FS)
    pop = simulate_population(y, t, 30, coupled={0: 0, 1: 1, 2: 2, 3: 0}, snr=3.0, seed=8)
    enc = encode(pop.traces, y, fs=FS, tau=0.7)
    c = enc.counts()
    assert c["neurons"] == 30 and c["tracking"] == int((enc.preferred != "").sum())
    assert sum(c["preferred"].values()) == c["tracking"]
    assert c["preferred"]["e0"] >= 2 and c["preferred"]["e1"] >= 1
    assert c["positive"]["e0"] / 30 == pytest.approx(enc.fractions()["per_expression"]["e0"])
