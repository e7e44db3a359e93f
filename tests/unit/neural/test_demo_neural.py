"""The demo's neural step on a demo-shaped experiment (no video): several conditions, no
warning about its own settings, one neuron count everywhere, a few seconds."""

import json
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter1d

from mouseface.cli.neural import summary_lines
from mouseface.report.findings import truth_lines
from mouseface.workflows import demo
from mouseface.workflows.neural import neural_correlates

CONDITIONS = ("pleasure", "disgust", "pain")


def _demo_shaped(root, fps=20.0, n_trials=6):
    """What simulate_experiment + run leave for the neural step: one session per condition of
    one animal (baseline 10 s, 3-s stimuli every 12 s, doses), frames.parquet with the
    similarity traces and motion energy, trials.csv, and the truth table."""
    rng = np.random.default_rng(0)
    frames, trials, truth, sessions = [], [], [], []
    seconds = 10.0 + 12.0 * n_trials
    t = np.arange(int(seconds * fps)) / fps
    for cond in CONDITIONS:
        s = f"m01_{cond}"
        onsets = 10.0 + 12.0 * np.arange(n_trials)
        doses = rng.permutation(np.resize([0.25, 0.5, 0.75, 1.0], n_trials))
        intensity = np.zeros(t.size)
        for on, d in zip(onsets, doses, strict=True):
            rise = np.clip((t - on) / 0.5, 0, 1) * (t >= on)
            intensity = np.maximum(intensity, d * rise * np.exp(-np.clip(t - on - 3, 0, None)
                                                               / 2.5))
        sim = {c: 0.6 + 0.01 * gaussian_filter1d(rng.normal(size=t.size), fps)
               for c in ("neutral", *CONDITIONS)}
        sim[cond] = sim[cond] + 0.3 * intensity
        sim["neutral"] = sim["neutral"] - 0.2 * intensity
        motion = 2 + gaussian_filter1d((rng.random(t.size) < 0.2 / fps) * 40.0, 0.3 * fps)
        frames.append(pd.DataFrame({"session": s, "animal": "m01", "frame": np.arange(t.size),
                                    "time": t, "motion_energy": motion,
                                    **{f"sim_{k}": v for k, v in sim.items()}}))
        trials.append(pd.DataFrame({"session": s, "onset": onsets, "duration": 3.0,
                                    "trial_type": cond, "intensity": doses}))
        truth.append(pd.DataFrame({"session": s, "time": t, "intensity": intensity,
                                   "state": np.where(intensity > 0, cond, "neutral")}))
        sessions.append({"session": s, "animal": "m01"})
    results = root / "results"
    results.mkdir()
    pd.concat(frames).to_parquet(results / "frames.parquet")
    pd.concat(trials).to_csv(results / "trials.csv", index=False)
    (results / "run.json").write_text(json.dumps({"settings": {"prototypes":
                                                               {"baseline": 2.0}}}))
    exp = SimpleNamespace(sessions=pd.DataFrame(sessions), events=pd.concat(trials),
                          truth=pd.concat(truth))
    return exp, results


def test_demo_neural_step(tmp_path):
    exp, results = _demo_shaped(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        folder, sessions = demo._demo_population(exp, results, tmp_path / "suite2p", 0)
        s = neural_correlates(results, folder, session=sessions, n_permutations=20)
    own = [str(w.message) for w in caught if "mouseface" in str(w.filename)
           or "shifts" in str(w.message)]
    assert not own and s["warnings"] == [], (own, s["warnings"])
    assert sessions == [f"m01_{c}" for c in CONDITIONS]
    assert s["null"]["name"] == "linear" and s["null"]["smallest_p"] < 1e-3
    assert s["psth"]["n_trials"] == dict.fromkeys(sorted(CONDITIONS), 6)
    assert s["decoding"]["balanced_accuracy"] > 1 / 3 + 0.2  # the conditions are decoded
    found = demo._neurons_found(results, json.loads((folder / "truth.json").read_text()))
    c = s["counts"]
    assert found["tracking"] == c["tracking"] >= 5 and found["precision"] >= 0.8
    assert found["movement_as_expression"] == 0
    assert (f"neurons: {found['correct']} of the {c['tracking']} tracking an expression "
            "follow it in truth") in "\n".join(truth_lines({"neurons": found}))
    assert f"neurons tracking an expression (q <= 0.05): {c['tracking']} of 60" in \
        "\n".join(summary_lines(s))
