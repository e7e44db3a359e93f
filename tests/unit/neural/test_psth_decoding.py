"""Trial-locked responses and population decoding on populations with known responses."""

import numpy as np
import pandas as pd
import pytest

from mouseface._errors import InputError
from mouseface.neural.decoding import decode_conditions, trial_features
from mouseface.neural.psth import psth, sample_at

FS = 10.0


def _population(seed=0, n_trials=8, n_neurons=30, gain=1.0):
    """Neurons 0-9 respond to 'pain', 10-19 to 'sucrose', the rest to nothing."""
    rng = np.random.default_rng(seed)
    onsets = 10.0 + 15.0 * np.arange(2 * n_trials)
    kinds = np.array(["pain", "sucrose"] * n_trials)
    t = np.arange(int((onsets[-1] + 20) * FS)) / FS
    x = rng.normal(scale=0.5, size=(n_neurons, t.size))
    for on, c in zip(onsets, kinds, strict=True):
        rows = slice(0, 10) if c == "pain" else slice(10, 20)
        x[rows, (t >= on) & (t < on + 3)] += gain
    ev = pd.DataFrame({"onset": onsets, "duration": 3.0, "trial_type": kinds})
    return x, t, ev


def test_psth_finds_each_group_in_its_condition():
    x, t, ev = _population()
    r = psth(x, t, ev, pre=2.0, post=5.0)
    assert r.conditions == ["pain", "sucrose"] and r.n_trials() == {"pain": 8, "sucrose": 8}
    during = (r.lags >= 0.5) & (r.lags < 2.5)
    pain, sucrose = r.mean("pain")[:, during].mean(1), r.mean("sucrose")[:, during].mean(1)
    assert np.all(pain[:10] > 0.7) and np.all(np.abs(pain[10:]) < 0.4)
    assert np.all(sucrose[10:20] > 0.7) and np.all(np.abs(sucrose[:10]) < 0.4)
    assert r.responses.shape == (16, 30, r.lags.size)
    np.testing.assert_allclose(np.nanmean(r.responses[:, :, r.lags < 0], axis=2), 0, atol=1e-5)


def test_psth_drops_trials_outside_the_recording():
    x, t, ev = _population()
    ev = pd.concat([ev, pd.DataFrame({"onset": [0.5, t[-1] - 1], "duration": 3.0,
                                      "trial_type": ["pain", "pain"]})])
    r = psth(x, t, ev, pre=2.0, post=5.0)
    assert r.n_dropped == 2 and len(r.trials) == 16


def test_sample_at_interpolates():
    t = np.arange(5.0)
    out = sample_at(np.array([[0.0, 10, 20, 30, 40]]), t, np.array([[0.5, 3.25]]))
    np.testing.assert_allclose(out, [[[5.0, 32.5]]])


def test_decoding_beats_chance_when_neurons_respond():
    x, t, ev = _population()
    d = decode_conditions(x, t, ev, n_permutations=20)
    assert d["balanced_accuracy"] >= 0.9 and d["chance"] == 0.5
    assert d["p_value"] <= 0.1 and d["n_trials"] == 16 and d["n_splits"] == 5
    assert np.sum(d["confusion_matrix"]) == 16


def test_decoding_is_at_chance_when_no_neuron_responds():
    x, t, ev = _population(gain=0.0, seed=3)
    d = decode_conditions(x, t, ev, n_permutations=20)
    assert 0.2 <= d["balanced_accuracy"] <= 0.8
    assert abs(d["chance_permuted"] - 0.5) < 0.15


def test_decoding_skips_with_a_reason():
    x, t, ev = _population()
    assert "need 2" in decode_conditions(x, t, ev[ev.trial_type == "pain"])["skipped"]
    one = ev.iloc[[0, 1, 3, 5]]  # one pain trial, three sucrose
    assert "need 2 per condition" in decode_conditions(x, t, one, n_permutations=0)["skipped"]


def test_trial_features_are_window_minus_baseline_and_exclude_nan():
    t = np.arange(100) / FS
    x = np.zeros((2, 100))
    x[:, 30:50] = 2.0
    x[1, 35] = np.nan
    feats, ok = trial_features(x, t, pd.DataFrame({"onset": [3.0], "duration": [2.0],
                                                   "trial_type": ["a"]}), baseline=1.0)
    np.testing.assert_allclose(feats, [[2.0, 2.0]])
    assert ok.tolist() == [True]


def test_missing_columns():
    x, t, ev = _population()
    with pytest.raises(InputError, match=r"missing columns \['trial_type'\]"):
        psth(x, t, ev.drop(columns="trial_type"))
    with pytest.raises(InputError, match=r"missing columns \['duration'\]"):
        decode_conditions(x, t, ev.drop(columns="duration"))
