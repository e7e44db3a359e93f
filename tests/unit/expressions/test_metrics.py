import numpy as np
import pandas as pd
import pytest

from mouseface.expressions.metrics import (
    METRIC_COLUMNS,
    decay_time_constant,
    sharpen,
    trace_metrics,
    trial_metrics,
    valence,
)
from mouseface.expressions.windows import assign_windows, trial_windows
from mouseface.io.results import Results

FPS = 20


def response(t, *, duration=3.0, rise=0.5, tau=1.5, amplitude=1.0):
    on = np.clip(1 - np.exp(-np.clip(t, 0, None) / rise), 0, None)
    at_offset = 1 - np.exp(-duration / rise)
    return amplitude * np.where(t < 0, 0.0, np.where(
        t < duration, on, at_offset * np.exp(-(t - duration) / tau)))


def windows_of(t, duration=3.0):
    return int((t < 0).sum()), int(((t >= 0) & (t < duration)).sum())


def test_trace_metrics_recover_latency_persistence_and_tau():
    rng = np.random.default_rng(0)
    t = np.arange(-2, 12, 1 / FPS)
    x = 0.3 + response(t) + rng.normal(0, 0.02, len(t))
    nb, ns = windows_of(t)
    m = trace_metrics(t, x, nb, ns, duration=3.0)
    assert m["baseline_mean"] == pytest.approx(0.3, abs=0.01)
    assert m["intensity_peak"] == pytest.approx(1.0, abs=0.06)
    assert m["intensity_mean"] == pytest.approx(np.mean(response(t[nb:nb + ns])), abs=0.02)
    assert 1.5 < m["latency_s"] < 3.0
    # back within 2 SD (~0.04) of baseline after about tau * ln(1 / 0.04) ~ 4.8 s
    assert 3.5 < m["persistence_s"] < 6.0 and not m["persistence_censored"]
    assert m["decay_tau_s"] == pytest.approx(1.5, rel=0.1)
    assert (m["n_baseline"], m["n_stimulus"], m["n_post"]) == (40, 60, len(t) - 100)


def test_trace_metrics_slower_decay_persists_longer():
    t = np.arange(-2, 20, 1 / FPS)
    nb, ns = windows_of(t)
    noise = np.random.default_rng(1).normal(0, 0.02, len(t))
    fast = trace_metrics(t, response(t, tau=1.0) + noise, nb, ns, duration=3.0)
    slow = trace_metrics(t, response(t, tau=3.0) + noise, nb, ns, duration=3.0)
    assert slow["persistence_s"] > 2 * fast["persistence_s"]
    assert slow["decay_tau_s"] == pytest.approx(3.0, rel=0.15)


def test_no_response_gives_no_tau_and_a_trace_that_stays_up_is_censored():
    rng = np.random.default_rng(2)
    t = np.arange(-2, 6, 1 / FPS)
    nb, ns = windows_of(t)
    flat = trace_metrics(t, rng.normal(0, 0.02, len(t)), nb, ns, duration=3.0)
    assert np.isnan(flat["decay_tau_s"])
    assert flat["persistence_s"] == pytest.approx(0.0, abs=0.1)
    up = np.where(t >= 0, 1.0, 0.0) + rng.normal(0, 0.02, len(t))
    stuck = trace_metrics(t, up, nb, ns, duration=3.0)
    assert stuck["persistence_censored"] and np.isnan(stuck["persistence_s"])
    assert np.isnan(stuck["decay_tau_s"])  # a flat plateau has no decay to fit


def test_decay_time_constant_fails_cleanly():
    assert np.isnan(decay_time_constant([0, 1, 2], [1, 0.5, 0.2]))  # too few points
    assert np.isnan(decay_time_constant(np.arange(10.0), -np.ones(10)))  # nothing to decay
    t = np.linspace(0, 5, 50)
    assert decay_time_constant(t, 2 * np.exp(-t / 0.7)) == pytest.approx(0.7, rel=1e-3)


def test_valence_is_pleasure_minus_mean_of_aversive():
    tr = {"pleasure": np.array([1.0, 0.0]), "disgust": np.array([0.2, 0.4]),
          "pain": np.array([0.0, 0.8])}
    np.testing.assert_allclose(valence(tr), [0.9, -0.6])
    assert valence({"pleasure": np.ones(2), "malaise": np.ones(2)}) is None
    np.testing.assert_allclose(valence({"pleasure": np.ones(2), "pain": np.zeros(2)}), [1, 1])


def test_sharpen_subtracts_baseline_and_clips():
    r = np.array([0.1, 0.1, 0.5, 0.0])
    s = sharpen(r, 2, k=10.0)
    assert s[0] == 0 and s[3] == 0
    assert s[2] == pytest.approx(np.exp(5) - np.exp(1))


def test_trial_metrics_table_on_a_results_folder(results_dir):
    r = Results(results_dir)
    m = trial_metrics(r.frames, r.trials, baseline=r.baseline)
    assert list(m.columns[-len(METRIC_COLUMNS):]) == METRIC_COLUMNS
    assert {"session", "onset", "trial_type", "intensity", "animal"} <= set(m.columns)
    assert not any(c.startswith("score_") for c in m.columns)
    n_trials = len(r.trials)
    assert len(m) == n_trials * 5  # neutral + 3 prototypes + valence
    own = m[m["own"]]
    assert len(own) == n_trials
    assert (own["intensity_mean"] > 0).all()
    assert own["latency_s"].between(0, 2).all()
    v = m[m["prototype"] == "valence"].groupby("trial_type")["intensity_mean"].mean()
    assert v["pleasure"] > 0 > v["pain"] and v["disgust"] < 0
    # stronger doses give stronger own-prototype responses
    rho = own[["intensity", "intensity_peak"]].corr(method="spearman").iloc[0, 1]
    assert rho > 0.5


def test_normalised_metrics_span_baseline_to_own_maximum(results_dir):
    r = Results(results_dir)
    m = trial_metrics(r.frames, r.trials, baseline=r.baseline, normalize=True, k=10)
    own = m[m["own"]]
    assert m["normalized"].all()
    top = own.groupby(["animal", "prototype"])["intensity_peak"].max()
    np.testing.assert_allclose(top.to_numpy(), 1.0)
    assert (own["intensity_peak"] >= 0).all()
    assert (own["baseline_mean"] >= 0).all() and (own["baseline_mean"] < 0.1).all()


def test_windows_assign_every_trial_its_baseline_and_stimulus():
    frames = pd.DataFrame({"session": "s", "time": np.arange(0, 10, 0.5)})
    events = pd.DataFrame({"session": ["s", "s"], "onset": [2.0, 6.0], "duration": [1.0, 1.0],
                           "trial_type": ["pain", "pleasure"], "event": [7, 8]})
    w = assign_windows(frames, events, baseline=1.0)
    assert w.loc[frames.time.between(1.0, 1.5), "part"].eq("baseline").all()
    assert w.loc[frames.time.between(1.0, 1.5), "event"].eq(7).all()
    assert w.loc[frames.time.between(6.0, 6.5), "label"].eq("pleasure").all()
    assert w.loc[frames.time == 4.0, "label"].item() == ""
    tw = trial_windows(frames, events, baseline=1.0, post=10.0)
    assert tw[7].post.size == 6  # cut at the next onset (3.0 .. 5.5)
    assert tw[8].post.size == 6  # cut at the end of the session (7.0 .. 9.5)
    np.testing.assert_allclose(tw[7].time[:2], [-1.0, -0.5])
