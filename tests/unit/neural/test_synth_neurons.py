"""The synthetic population: stated SNR, causal kernel, autocorrelated uncoupled neurons."""

import numpy as np
import pytest
from scipy import ndimage

from mouseface._errors import InputError
from mouseface.synth.neurons import gcamp_kernel, simulate_population, simulate_session

FS = 20.0


def test_snr_gain_and_truth(bouts):
    y, t = bouts(0, n_expr=3, seconds=300, fs=FS)
    pop = simulate_population(y, t, 10, coupled={2: 1, 4: "e2"}, snr=2.0, seed=1,
                              noise_sd=0.2)
    assert pop.coupled == {2: 1, 4: 2}
    assert pop.truth.loc[4, "expression"] == "e2" and not pop.truth.loc[0, "coupled"]
    np.testing.assert_allclose(pop.noise.std(axis=1), 0.2, rtol=1e-3)
    assert pop.signal[2].std() / pop.noise[2].std() == pytest.approx(2.0, rel=1e-3)
    assert np.all(pop.signal[[0, 1, 3]] == 0)
    np.testing.assert_allclose(pop.traces, pop.signal + pop.noise, atol=1e-6)
    # the same seed gives the same population
    again = simulate_population(y, t, 10, coupled={2: 1, 4: "e2"}, snr=2.0, seed=1,
                                noise_sd=0.2)
    np.testing.assert_array_equal(again.traces, pop.traces)


def test_uncoupled_neurons_are_autocorrelated(bouts):
    y, t = bouts(1, n_expr=1, seconds=300, fs=FS)
    pop = simulate_population(y, t, 20, seed=2)
    x = pop.traces - pop.traces.mean(axis=1, keepdims=True)
    lag = int(FS)  # 1 s
    ac = (x[:, lag:] * x[:, :-lag]).mean(axis=1) / x.var(axis=1)
    assert np.all(ac > 0.3)


def test_coupled_neuron_lags_its_expression_causally():
    t = np.arange(2000) / FS
    y = np.zeros((1, t.size))
    y[0, 1000:1040] = 1.0  # one 2-s bout
    pop = simulate_population(y, t, 1, coupled={0: 0}, snr=50.0, seed=0, noise_sd=0.01)
    s = pop.signal[0]
    assert np.all(np.abs(s[:1000] - s[0]) < 1e-6)  # nothing before the bout starts
    assert np.argmax(s) > 1000
    k = gcamp_kernel(FS, 0.7)
    assert k[0] == 0 and k.max() == 1.0


def test_bad_arguments():
    t = np.arange(100) / FS
    with pytest.raises(InputError, match="100 expression frames but 99 times"):
        simulate_population(np.zeros((1, 100)), t[:99], 3)
    with pytest.raises(InputError, match="outside 3 neurons"):
        simulate_population(np.zeros((1, 100)), t, 3, coupled={5: 0})


def test_bleaching_lowers_the_baseline_and_the_gain():
    t = np.arange(12000) / FS  # 10 min
    y = np.zeros((1, t.size))
    y[0, ::400] = 1.0  # a brief drive every 20 s
    kw = dict(coupled={0: 0}, snr=4.0, seed=1, noise_sd=0.02, event_rate=0.0, drift=0.0)
    flat = simulate_population(y, t, 1, **kw)
    bleached = simulate_population(y, t, 1, bleach_tau=600.0, **kw)
    # the reported trace is b(t)·(1 + ΔF/F) − 1 with b(t) = exp(−t/τ), τ in 300-900 s
    b = (1 + bleached.traces[0]) / (1 + flat.traces[0])
    tau = -t[-1] / np.log(b[-1])
    assert 300 <= tau <= 900
    np.testing.assert_allclose(b, np.exp(-t / tau), rtol=1e-4)
    first, last = bleached.traces[0, :2400], bleached.traces[0, -2400:]
    assert np.ptp(last) < 0.7 * np.ptp(first)  # transients shrink with the gain


def test_wander_bursts_neuropil_and_motion_artefacts():
    t = np.arange(12000) / FS
    y = np.zeros((1, t.size))
    motion = np.abs(np.random.default_rng(5).normal(size=t.size)).cumsum() % 7
    base = simulate_population(y, t, 40, seed=2, event_rate=0.02)
    real = simulate_population(y, t, 40, seed=2, event_rate=0.02, burst_size=4.0,
                               wander=0.1, neuropil=0.1, motion=motion, motion_artefact=0.05)
    assert real.params["burst_size"] == 4.0
    # bursts: several events within 0.5 s of each other, single events without
    assert (real.activity > 0).sum() > 2 * (base.activity > 0).sum()
    # neuropil: neurons that follow nothing share a signal
    c_base = np.corrcoef(base.noise)[np.triu_indices(40, 1)].mean()
    c_real = np.corrcoef(real.noise)[np.triu_indices(40, 1)].mean()
    assert c_real > c_base + 0.05
    # motion artefacts follow the movement, mostly downwards
    r = [np.corrcoef(row, motion)[0, 1] for row in real.traces]
    assert np.median(r) < -0.1
    # wander: slow power beyond the original model's
    slow = lambda x: ndimage.gaussian_filter1d(x, 10 * FS, axis=1).std(axis=1).mean()  # noqa: E731
    assert slow(real.noise) > 1.5 * slow(base.noise)


def test_simulated_sessions_have_trials_expressions_movement_and_truth():
    s = simulate_session(3.0, fs=10.0, n_neurons=12, seed=4,
                         coupled={0: "pleasure", 1: "disgust", 2: "motion_energy"})
    assert s.names == ["neutral", "pleasure", "disgust"] and s.time.size == 1800
    assert s.expressions.shape == (3, 1800) and s.motion.shape == (1800,)
    gaps = np.diff(s.events["onset"].to_numpy())
    assert gaps.min() >= 12.0 and gaps.max() <= 30.0 and np.ptp(gaps) > 3.0  # jittered
    assert set(s.events["trial_type"]) <= {"pleasure", "disgust"}
    # faces that express also move: motion energy rises with the summed expressions
    assert np.corrcoef(s.expressions[1:].sum(axis=0), s.motion)[0, 1] > 0.2
    truth = s.population.truth
    assert truth.loc[2, "expression"] == "motion_energy" and not truth.loc[5, "coupled"]
    assert np.corrcoef(s.population.signal[2], s.motion)[0, 1] > 0.5
    # deconvolved-like activity of a coupled neuron follows its expression without the kernel
    assert np.corrcoef(s.population.activity[0], s.expressions[1])[0, 1] > 0.5
    with pytest.raises(InputError, match="an unrelated population cannot have coupled"):
        simulate_session(1.0, coupled={0: "pleasure"}, unrelated=True)


def test_unrelated_sessions_share_nothing_with_the_face():
    s = simulate_session(5.0, fs=10.0, n_neurons=30, seed=6, unrelated=True)
    a = simulate_session(5.0, fs=10.0, n_neurons=30, seed=6)  # same face, artefacts follow it
    r_unrel = np.abs([np.corrcoef(x, s.motion)[0, 1] for x in s.population.traces])
    r_rel = np.abs([np.corrcoef(x, a.motion)[0, 1] for x in a.population.traces])
    assert np.median(r_unrel) < 0.1 < np.median(r_rel)
