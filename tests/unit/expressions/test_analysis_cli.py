"""Every analysis from Python (mouseface.workflows.analysis) and from the command line
(CliRunner)."""

import json
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from mouseface._errors import InputError
from mouseface.cli import app
from mouseface.expressions.metrics import METRIC_COLUMNS
from mouseface.expressions.stats import STATS_COLUMNS
from mouseface.workflows import analysis

runner = CliRunner()


@pytest.fixture
def folder(results_dir, tmp_path):
    """A private copy of the shared results folder (the analyses write into it)."""
    return shutil.copytree(results_dir, tmp_path / "results")


def invoke(*args):
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res.output


def figures_exist(folder, stem):
    for ext in (".png", ".svg"):
        path = folder / "analysis" / f"{stem}{ext}"
        assert path.is_file() and path.stat().st_size > 1000, path


def test_classify_python_and_cli(folder):
    r = analysis.classify(folder, features="similarity", split="animal", n_permutations=2)
    assert r["classes"] == ["neutral", "disgust", "pain", "pleasure"]
    assert r["n_splits"] == 3 and r["balanced_accuracy"] > 0.6
    saved = json.loads((folder / "analysis" / "classification.json").read_text())
    assert "predictions" not in saved and saved["split"] == "animal" and "note" in saved
    pred = pd.read_csv(folder / "analysis" / "classification_predictions.csv")
    assert list(pred.columns) == ["session", "animal", "event", "frame", "true", "predicted"]
    figures_exist(folder, "confusion")

    out = invoke("classify", folder, "--features", "hog", "--level", "trial",
                 "--classifier", "logreg", "--split", "trial", "-n", "2", "--center", "animal")
    assert "balanced accuracy" in out and "72 windows, 4 classes" in out
    saved = json.loads((folder / "analysis" / "classification.json").read_text())
    assert saved["level"] == "trial" and saved["center"] == "animal"
    assert saved["balanced_accuracy"] > 0.8
    assert set(saved["chance"]) >= {"uniform", "balanced_accuracy_mean", "p_value"}
    out = invoke("classify", folder, "--features", "prototypes", "-n", "0",
                 "--conditions", "pain,pleasure", "--step", "3")
    assert "3 classes" in out


def test_classify_jobs_change_nothing_but_the_time(folder):
    # the forest over HOG, folds and permutations one at a time and on every core
    saved = {}
    for jobs in ("1", "-1"):
        invoke("classify", folder, "--features", "hog", "-n", "2", "--step", "4", "--jobs", jobs)
        saved[jobs] = (json.loads((folder / "analysis" / "classification.json").read_text()),
                       (folder / "analysis" / "classification_predictions.csv").read_text())
    assert saved["1"] == saved["-1"]
    assert saved["1"][0]["chance"]["n_permutations"] == 2


def test_classify_trial_scores_without_neutral(folder):
    r = analysis.classify(folder, features="similarity", level="trial", neutral=False,
                          classifier="logreg", n_permutations=0, write=False)
    assert r["n_samples"] == 36 and "neutral" not in r["classes"]
    assert r["balanced_accuracy"] > 0.9


def test_embed_python_and_cli(folder):
    e = analysis.embed(folder, features="similarity", max_frames=60, perplexity=10)
    assert set(e["scope"]) == {"pooled", "m0", "m1", "m2"}
    assert e.groupby("scope").size().max() <= 60
    saved = pd.read_csv(folder / "analysis" / "embedding.csv")
    assert list(saved.columns) == ["scope", "session", "animal", "frame", "time", "event",
                                   "label", "method", "features", "x", "y"]
    figures_exist(folder, "embedding")
    out = invoke("embed", folder, "--max-frames", "80", "--pooled-only", "--pca", "10")
    assert "80 points in 1 embeddings" in out
    # the four embeddings (pooled, three animals) one at a time: the same maps
    one = analysis.embed(folder, max_frames=60, perplexity=10, n_jobs=1, write=False)
    pd.testing.assert_frame_equal(analysis.embed(folder, max_frames=60, perplexity=10,
                                                 write=False), one)


def test_cluster_python_and_cli(folder):
    c = analysis.cluster(folder, max_frames=200)
    assert [s["scope"] for s in c["scopes"]] == ["m0", "m1", "m2"]
    for s in c["scopes"]:
        assert s["purity"] > s["majority_fraction"] and s["adjusted_rand"] > 0.2
        assert sum(sum(v.values()) for v in s["composition"].values()) == s["n_frames"]
    clusters = pd.read_csv(folder / "analysis" / "clusters.csv")
    assert {"scope", "frame", "label", "cluster", "leaf_position"} <= set(clusters.columns)
    figures_exist(folder, "clustering")
    out = invoke("cluster", folder, "--pooled", "--max-frames", "150", "--clusters", "3")
    assert out.startswith("pooled: 150 frames")


def test_trials_python_and_cli(folder):
    m = analysis.trial_metrics(folder)
    assert list(m.columns[-len(METRIC_COLUMNS):]) == METRIC_COLUMNS
    assert (folder / "analysis" / "trial_metrics.csv").is_file()
    figures_exist(folder, "trial_metrics")
    out = invoke("trials", folder, "--normalize", "--k", "5")
    assert "36 trials x 5 traces" in out
    norm = pd.read_csv(folder / "analysis" / "trial_metrics_normalized.csv")
    assert norm["normalized"].all()


def test_dose_python_and_cli(folder):
    t = analysis.dose(folder, "intensity", n_boot=100)
    assert set(t["prototype"]) == {"disgust", "pain", "pleasure"}
    saved = pd.read_csv(folder / "analysis" / "dose_intensity.csv")
    assert json.loads(saved.loc[0, "doses"]) == [0.25, 0.5, 0.75, 1.0]
    figures_exist(folder, "dose_intensity")
    out = invoke("dose", folder, "--column", "intensity", "--prototype", "pain",
                 "--conditions", "pain", "--boot", "100", "--score", "peak")
    assert out.splitlines()[0].startswith("pain") and "pooled" in out


def test_stats_python_and_cli(folder):
    t = analysis.stats(folder, correction="bh")
    assert list(t.columns) == STATS_COLUMNS and (t["correction"] == "bh").all()
    out = invoke("stats", folder, "--unit", "animal", "--correction", "holm")
    assert "tests significant after holm" in out
    saved = pd.read_csv(folder / "analysis" / "stats.csv")
    assert (saved["unit"] == "animal").all()


def test_analyze_runs_everything(folder):
    out = invoke("analyze", folder, "--quick", "--features", "similarity", "-n", "2")
    summary = json.loads((folder / "analysis" / "summary.json").read_text())
    assert all(v["ok"] for k, v in summary.items() if isinstance(v, dict)), summary
    assert {"classify", "embed", "cluster", "trial_metrics", "stats",
            "dose_intensity"} <= set(summary)
    assert "dose_intensity" in out
    bar = next(line for line in out.splitlines() if line.startswith("analyses"))
    assert "━" in bar and "6/6" in bar and "done in" in bar  # the progress bar, finished


@pytest.mark.parametrize("args, message", [
    (["classify", "{missing}"], "results folder not found"),
    (["classify", "{folder}", "--split", "session"], "split must be one of"),
    (["classify", "{folder}", "--features", "prototypes", "--level", "trial"],
     "features 'prototypes' work on frames"),
    (["classify", "{folder}", "--features", "prototypes", "--no-neutral"], "drop --no-neutral"),
    (["embed", "{folder}", "--features", "prototypes"], "features must be one of"),
    (["dose", "{folder}", "--column", "volume"], "no column 'volume'"),
    (["dose", "{folder}", "--column", "trial_type"], "holds no numbers"),
    (["stats", "{folder}", "--correction", "sidak"], "correction must be one of"),
    (["trials", "{empty}"], "no frames.parquet"),
])
def test_bad_input_is_one_line_and_exit_code_2(folder, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    paths = {"folder": folder, "missing": tmp_path / "nope", "empty": tmp_path / "empty"}
    res = runner.invoke(app, [a.format(**paths) for a in args])
    assert res.exit_code == 2, res.output
    assert message in res.output and len(res.output.strip().splitlines()) == 1


def test_classify_without_feature_stores_says_what_to_do(folder):
    shutil.rmtree(folder / "features")
    with pytest.raises(InputError, match="use --features similarity"):
        analysis.classify(folder, n_permutations=0, write=False)
    summary = analysis.analyze(folder, quick=True, n_permutations=0)
    assert summary["features"] == "similarity" and summary["classify"]["ok"]


def test_damaged_frames_table_is_reported(folder):
    (folder / "frames.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match="frames.parquet: cannot read Parquet"):
        analysis.stats(folder)
