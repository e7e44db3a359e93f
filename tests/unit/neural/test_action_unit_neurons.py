"""`mouseface neural --action-units`: neurons that track a facial action unit are found as
neurons that track an expression are, and told apart from the expression neurons."""

import numpy as np
import pandas as pd
import pytest
from tests.helpers import cli_error
from tests.unit.neural.conftest import make_bouts, write_results
from typer.testing import CliRunner

from mouseface._errors import InputError
from mouseface.cli import app
from mouseface.io.neural import NeuralTraces, write_table
from mouseface.neural.sync import align
from mouseface.synth.neurons import simulate_population
from mouseface.workflows.neural import neural_correlates

FS = 10.0


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A results folder whose frames have two action-unit traces (bouts of their own, 5 % of
    frames lost), and 30 neurons: 0-5 follow au_ear_angle, 6-9 the pain expression."""
    root = tmp_path_factory.mktemp("au_neurons")
    res, frames, _ = write_results(root / "results", seconds=300.0, n_trials=8)
    rng = np.random.default_rng(1)
    aus, _ = make_bouts(7, n_expr=2, seconds=300.0, fs=20.0)
    for name, v in zip(("au_ear_angle", "au_eye_opening"), aus, strict=True):
        v = 20.0 * v
        v[rng.random(v.size) < 0.05] = np.nan
        frames[name] = v.astype(np.float32)
    frames.to_parquet(res / "frames.parquet", index=False)
    probe = NeuralTraces.from_numpy(np.zeros((1, int(295 * FS))), rate=FS)
    drive = np.vstack([frames["au_ear_angle"].interpolate().to_numpy(),
                       frames["sim_pain"].to_numpy()])
    a = align(probe, frames["time"].to_numpy(), drive, ["ear", "pain"])
    coupled = {**dict.fromkeys(range(6), 0), **dict.fromkeys(range(6, 10), 1)}
    pop = simulate_population(a.expressions, a.time, 30, coupled=coupled, snr=2.0, seed=3,
                              names=["ear", "pain"])
    write_table(root / "pop.csv", pop.to_traces())
    return root, frames


def test_neurons_tracking_an_action_unit(folder):
    root, _ = folder
    r = CliRunner().invoke(app, ["neural", str(root / "results"), "--traces",
                                 str(root / "pop.csv"), "--action-units", "--no-movement",
                                 "--permutations", "5", "--out", str(root / "au")])
    assert r.exit_code == 0, r.output
    assert "30 neurons x 5 expressions" in r.output
    assert (root / "au" / "correlations.png").is_file()
    table = pd.read_csv(root / "au" / "neurons.csv")
    best = table[table["preferred"]].set_index("neuron")["expression"]
    assert all(best.get(i) == "au_ear_angle" for i in range(6))
    assert all(best.get(i) == "pain" for i in range(6, 10))
    sig = table[table["significant"]]
    assert set(sig.loc[sig["expression"] == "au_ear_angle", "neuron"]) >= set(range(6))
    # no neuron follows the eye: at most a chance hit among 30
    assert (sig["expression"] == "au_eye_opening").sum() <= 1
    assert set(table["expression"]) == {"neutral", "pain", "sucrose", "au_ear_angle",
                                        "au_eye_opening"}
    # without the option the action units are not tested
    plain = neural_correlates(root / "results", root / "pop.csv", movement=False,
                              n_permutations=5, draw=False, out=root / "plain")
    assert plain["expressions"] == ["neutral", "pain", "sucrose"]


def test_action_units_missing_one_line(folder, tmp_path):
    root, _ = folder
    bare = tmp_path / "bare"
    write_results(bare, seconds=300.0, n_trials=8)
    r = CliRunner().invoke(app, ["neural", str(bare), "--traces", str(root / "pop.csv"),
                                 "--action-units", "--out", str(tmp_path / "o")])
    cli_error(r, "frames.parquet", "no action units (au_ columns)", "--poses")
    blank = tmp_path / "blank"
    write_results(blank, seconds=300.0, n_trials=8, sessions=("s1", "s2"))
    f = pd.read_parquet(blank / "frames.parquet")
    f["au_ear_angle"] = np.where(f["session"] == "s1", 1.0, np.nan)
    f.to_parquet(blank / "frames.parquet", index=False)
    with pytest.raises(InputError, match="session 's2' has no au_ear_angle"):
        neural_correlates(blank, [root / "pop.csv"] * 2, session=["s1", "s2"],
                          action_units=True, draw=False, out=tmp_path / "o2")
