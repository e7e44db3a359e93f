"""Ground truth: the analyses on a simulated experiment (synth -> pipeline.run -> analysis).

Acceptance: with held-out animals, the six emotion states plus neutral are told apart with
balanced accuracy >= 0.9 (trial windows: each stimulus window is a sample of its condition,
each baseline window a sample of neutral; logistic regression on PCA-reduced HOG).
"""

import json

import numpy as np
import pandas as pd
import pytest

from mouseface.workflows import analysis

pytestmark = pytest.mark.slow

CONDITIONS = ("pleasure", "disgust", "malaise", "pain", "passive_fear", "active_fear")


@pytest.fixture(scope="module")
def synthetic_results(tmp_path_factory):
    from mouseface.settings import load_settings
    from mouseface.synth import simulate_experiment
    from mouseface.workflows.pipeline import run

    out = tmp_path_factory.mktemp("synthetic")
    exp = simulate_experiment(out / "data", n_animals=4, conditions=CONDITIONS, n_trials=4,
                              seed=2, size=(128, 128), doses=(1.0,))
    settings = load_settings(hog={"pixels_per_cell": (16, 16)}, prototypes={"baseline": 2.0})
    return run(exp.sessions_path, exp.events_path, out / "results", settings=settings,
               quiet=True)


def test_seven_states_held_out_animals(synthetic_results):
    res = analysis.classify(synthetic_results, features="hog", level="trial",
                            classifier="logreg", split="animal", n_permutations=3)
    print({k: res[k] for k in ("balanced_accuracy", "accuracy", "fold_balanced_accuracy",
                               "recall")})
    assert res["classes"] == ["neutral", *sorted(CONDITIONS)]
    assert res["n_splits"] == 4 and res["n_animals"] == 4
    assert res["balanced_accuracy"] >= 0.9
    assert res["chance"]["balanced_accuracy_mean"] < 0.3
    saved = json.loads((synthetic_results / "analysis" / "classification.json").read_text())
    assert saved["balanced_accuracy"] == res["balanced_accuracy"]
    for ext in ("png", "svg"):
        assert (synthetic_results / "analysis" / f"confusion.{ext}").is_file()


def test_frames_held_out_animals_well_above_chance(synthetic_results):
    res = analysis.classify(synthetic_results, features="hog", split="animal",
                            n_permutations=0, step=4, write=False)
    print("frame level, 7 classes, held-out animals:", res["balanced_accuracy"])
    assert res["balanced_accuracy"] > 0.7  # 1/7 = 0.14 by chance


def test_everything_else_runs_and_makes_sense(synthetic_results):
    summary = analysis.analyze(synthetic_results, quick=True, n_permutations=2)
    failed = {k: v for k, v in summary.items() if isinstance(v, dict) and not v["ok"]}
    assert not failed
    out = synthetic_results / "analysis"
    metrics = pd.read_csv(out / "trial_metrics.csv")
    own = metrics[metrics["own"]]
    assert (own["intensity_mean"] > 0).mean() > 0.9
    assert own["latency_s"].between(0, 3).all()
    # expressions outlast the 3-s stimulus (synth: decay time constant 2.5 s)
    assert np.nanmedian(own["persistence_s"]) > 0.5
    assert np.isfinite(own["decay_tau_s"]).mean() > 0.5
    valence = metrics[metrics["prototype"] == "valence"].groupby("trial_type")[
        "intensity_mean"].mean()
    assert valence["pleasure"] > 0 > max(valence["disgust"], valence["pain"])
    stats = pd.read_csv(out / "stats.csv")
    own_tests = stats[stats["prototype"] == stats["condition"]]
    assert own_tests["significant"].all() and (own_tests["rank_biserial"] > 0.8).all()
    for scope in json.loads((out / "clustering.json").read_text())["scopes"]:
        assert scope["purity"] > scope["majority_fraction"]
    assert len(pd.read_csv(out / "embedding.csv")) > 400
