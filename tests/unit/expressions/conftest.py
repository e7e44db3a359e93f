"""A small results folder built from generated HOG-like vectors, for the analysis tests.

It has the layout ``mouseface run`` writes (features/<session>.zarr, frames.parquet with
``sim_`` columns from per-animal prototypes, trials.csv with cross-fitted scores, run.json), so
the analyses are tested on the real path without decoding video.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mouseface.expressions.prototypes import PrototypeModel
from mouseface.expressions.trials import TrialFrames, crossfit_trial_scores
from mouseface.expressions.windows import label_frames, window_index
from mouseface.io.store import FeatureStore

SHAPE = (4, 4, 8)


def make_results(out, *, seed=0, n_animals=3, conditions=("pleasure", "disgust", "pain"),
                 n_trials=4, fps=10.0, baseline=2.0, stimulus=2.0, iti=6.0, tau=1.0,
                 noise=0.05, with_features=True):
    """Write a results folder; returns its path. Response of trial i scales with its dose."""
    rng = np.random.default_rng(seed)
    d = int(np.prod(SHAPE))
    directions = {c: rng.normal(size=d) for c in conditions}
    frames, trial_rows, scores = [], [], []
    event = 0
    for a in range(n_animals):
        animal = f"m{a}"
        face = np.abs(rng.normal(1.0, 0.3, size=d))
        x_all, y_all, trial_frames = [], [], []
        sessions = []
        for c in conditions:
            session = f"{animal}_{c}"
            onsets = baseline + 2.0 + np.arange(n_trials) * (stimulus + iti)
            n = int(round((onsets[-1] + stimulus + iti) * fps))
            t = np.arange(n) / fps
            doses = rng.permutation(np.resize([0.25, 0.5, 0.75, 1.0], n_trials))
            drive = np.zeros(n)
            for on, dose in zip(onsets, doses, strict=True):
                rise = np.clip((t - on) / 0.5, 0, 1)
                after = np.where(t > on + stimulus, np.exp(-(t - on - stimulus) / tau), 1.0)
                drive += np.where(t >= on, dose * rise * after, 0.0)
            ar = np.zeros((n, d))
            e = rng.normal(scale=noise, size=(n, d))
            for i in range(1, n):  # temporally correlated noise
                ar[i] = 0.8 * ar[i - 1] + e[i]
            x = face + 0.6 * drive[:, None] * directions[c] * face + ar
            x = np.abs(x).astype(np.float32)
            ev = pd.DataFrame({"session": session, "onset": onsets,
                               "duration": stimulus, "trial_type": c, "intensity": doses,
                               "event": np.arange(event, event + n_trials)})
            event += n_trials
            if with_features:
                store = FeatureStore.open(out / "features" / f"{session}.zarr", n_frames=n,
                                          feature_shape=SHAPE, chunk_size=256,
                                          params={"test": True}, fingerprint=session)
                for i in range(store.n_chunks):
                    lo, hi = store.chunk_range(i)
                    store.write_chunk(i, x[lo:hi], t[lo:hi])
                store.finalize(n)
            labels, _ = label_frames(t, ev, baseline)
            x_all.append(x[labels != ""])
            y_all.append(labels[labels != ""])
            for row in ev.itertuples(index=False):
                trial_frames.append(TrialFrames(
                    int(row.event), c, x[window_index(t, row.onset - baseline, row.onset)],
                    x[window_index(t, row.onset, row.onset + stimulus)]))
            sessions.append((session, t, x, labels))
            trial_rows.append(ev)
        model = PrototypeModel(n_frames=10).fit(np.concatenate(x_all), np.concatenate(y_all))
        s, _ = crossfit_trial_scores(trial_frames, neutral=model.prototypes_[0])
        scores.append(s)
        for session, t, x, labels in sessions:
            df = pd.DataFrame({"session": session, "animal": animal,
                               "frame": np.arange(len(t)), "time": t, "window": labels})
            sim = model.transform(x)
            for j, name in enumerate(model.classes_):
                df[f"sim_{name}"] = sim[:, j].astype(np.float32)
            frames.append(df)
    out.mkdir(parents=True, exist_ok=True)
    pd.concat(frames, ignore_index=True).to_parquet(out / "frames.parquet", index=False)
    events = pd.concat(trial_rows, ignore_index=True)
    events.join(pd.concat(scores), on="event").to_csv(out / "trials.csv", index=False)
    (out / "run.json").write_text(json.dumps(
        {"settings": {"prototypes": {"baseline": baseline, "n_frames": 10}}}))
    return out


@pytest.fixture(scope="session")
def results_dir(tmp_path_factory):
    """A results folder of 3 animals x 3 conditions x 4 trials (read-only for tests)."""
    return make_results(tmp_path_factory.mktemp("results"))
