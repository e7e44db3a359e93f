"""`mouseface neural` on a tiny hand-made results folder, and its one-line errors."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mouseface.cli import app
from mouseface.io.neural import NeuralTraces, write_table
from mouseface.neural.sync import align
from mouseface.synth.neurons import (
    simulate_population,
    write_population_nwb,
    write_population_suite2p,
)
from mouseface.workflows.neural import neural_correlates

runner = CliRunner()
NAMES = ["neutral", "pain", "sucrose"]
FS = 10.0
OFFSET = 2.0


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Results folder (300 s video, 16 trials), plus the same population as suite2p, NWB and CSV."""
    from tests.unit.neural.conftest import write_results

    root = tmp_path_factory.mktemp("neural_cli")
    res, frames, _ = write_results(root / "results", seconds=300.0, n_trials=8)
    n = int(290 * FS)
    probe = NeuralTraces.from_numpy(np.zeros((1, n)), rate=FS)
    a = align(probe, frames["time"].to_numpy(),
              frames[[f"sim_{k}" for k in NAMES]].to_numpy().T, NAMES, offset=OFFSET)
    coupled = {i: 1 + i % 2 for i in range(8)}  # 0,2,4,6 pain; 1,3,5,7 sucrose
    pop = simulate_population(a.expressions, a.time - OFFSET, 30, coupled=coupled, snr=2.0,
                              seed=0, names=NAMES)
    write_population_suite2p(pop, root / "suite2p" / "plane0", n_noncells=2)
    write_population_nwb(pop, root / "pop.nwb")
    nt = pop.to_traces()
    write_table(root / "pop.csv", nt.replace(time=nt.time + OFFSET))  # already on video clock
    return root, pop


def invoke(*args):
    return runner.invoke(app, ["neural", *[str(a) for a in args]])


def test_suite2p_run_writes_tables_and_figures(folder):
    root, pop = folder
    res = invoke(root / "results", "--traces", root / "suite2p", "--offset", OFFSET,
                 "--shifts", 300, "--permutations", 10, "--out", root / "out_s2p")
    assert res.exit_code == 0, res.output
    assert "30 neurons x 3 expressions" in res.output and "balanced accuracy" in res.output
    bar = res.output.splitlines()[0]
    assert bar.startswith("neural ") and "6/6" in bar and "done in" in bar
    out = root / "out_s2p"
    for name in ("neurons.csv", "neural_summary.json", "correlations.png", "correlations.svg",
                 "examples.png", "psth.png", "psth.svg"):
        assert (out / name).is_file(), name
    table = pd.read_csv(out / "neurons.csv")
    assert list(table.columns[:7]) == ["neuron", "expression", "r", "p", "q", "significant",
                                       "preferred"]
    assert len(table) == 30 * 3
    best = table[table["preferred"]].set_index("neuron")["expression"]
    for i, j in pop.coupled.items():
        assert best.get(i) == NAMES[j]
    summary = json.loads((out / "neural_summary.json").read_text())
    assert summary["overlap"]["seconds"] == pytest.approx(290.0)
    assert summary["traces"]["kind"] == "suite2p" and summary["traces"]["neuropil"] == 0.7
    assert summary["fractions"]["per_expression"]["pain"] >= 4 / 30
    assert summary["decoding"]["balanced_accuracy"] >= 0.75
    assert summary["settings"]["n_shifts"] == 300


@pytest.mark.parametrize("source,offset", [("pop.nwb", OFFSET), ("pop.csv", 0.0)])
def test_nwb_and_table_give_the_same_neurons(folder, source, offset):
    root, pop = folder
    s = neural_correlates(root / "results", root / source, offset=offset, n_shifts=300,
                          n_permutations=0, out=root / f"out_{source}", draw=False)
    table = pd.read_csv(root / f"out_{source}" / "neurons.csv")
    called = set(table.loc[table["preferred"], "neuron"].astype(int))
    assert set(pop.coupled) <= called
    assert s["n_neurons"] == 30


def _one_line_error(res, message):
    assert res.exit_code != 0
    lines = res.output.strip().splitlines()
    assert len(lines) == 1, res.output
    assert lines[0].startswith("error: ") and message in lines[0], lines[0]


def test_no_temporal_overlap(folder):
    root, _ = folder
    res = invoke(root / "results", "--traces", root / "pop.nwb", "--offset", 500)
    _one_line_error(res, "no temporal overlap between imaging")


def test_timestamps_of_the_wrong_length(folder, tmp_path):
    root, _ = folder
    bad = tmp_path / "bad.csv"
    bad.write_text("time,n1,n2\n0.0,1,2\n0.1,1,\n0.1,3,4\n")
    res = invoke(root / "results", "--traces", bad)
    _one_line_error(res, "timestamps must increase")


def test_missing_traces_and_results(folder, tmp_path):
    root, _ = folder
    _one_line_error(invoke(root / "results", "--traces", tmp_path / "none.nwb"),
                    "NWB file not found")
    _one_line_error(invoke(tmp_path, "--traces", root / "pop.nwb"),
                    "not a mouseface results folder")


def test_tiny_hand_made_results_folder(tmp_path):
    """frames.parquet written by hand: two sessions, so --session is required."""
    res_dir = tmp_path / "r"
    res_dir.mkdir()
    t = np.arange(400) / 20.0
    frames = pd.concat([pd.DataFrame({"session": s, "animal": "m", "frame": np.arange(400),
                                      "time": t, "window": "", "sim_neutral": np.sin(t),
                                      "sim_pain": np.cos(t / 3)}) for s in ("a", "b")])
    frames.to_parquet(res_dir / "frames.parquet")
    pd.DataFrame({"session": ["a"], "onset": [5.0], "duration": [2.0],
                  "trial_type": ["pain"]}).to_csv(res_dir / "trials.csv", index=False)
    traces = tmp_path / "cells.csv"
    rng = np.random.default_rng(0)
    pd.DataFrame({"time": np.arange(150) / 10.0, "c1": rng.normal(size=150),
                  "c2": rng.normal(size=150)}).to_csv(traces, index=False)
    _one_line_error(invoke(res_dir, "--traces", traces), "2 sessions in the results; name one "
                    "with --session")
    _one_line_error(invoke(res_dir, "--traces", traces, "--session", "zz"), "no session 'zz'")
    _one_line_error(invoke(res_dir, "--traces", traces, "--session", "a", "--null",
                           "circular", "--min-shift", 10),
                    "too short for a minimum shift of 10 s")
    _one_line_error(invoke(res_dir, "--traces", traces, "--session", "a", "--max-shift", 8),
                    "too short for the linear-shift null with shifts up to 8.0 s")
    _one_line_error(invoke(res_dir, "--traces", traces, "--session", "a", "--null", "rank"),
                    "null must be one of linear, circular")
    ok = invoke(res_dir, "--traces", traces, "--session", "a")
    assert ok.exit_code == 0, ok.output
    assert "decoding skipped" in ok.output
    assert (res_dir / "neural" / "neurons.csv").is_file()
