"""The synthetic population: stated SNR, causal kernel, autocorrelated uncoupled neurons."""

import numpy as np
import pytest

from mouseface._errors import InputError
from mouseface.synth.neurons import gcamp_kernel, simulate_population

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
