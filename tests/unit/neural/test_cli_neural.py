"""`mouseface neural` on a tiny hand-made results folder, and its one-line errors."""

import json

import numpy as np
import pandas as pd
import pytest
from tests.helpers import cli_error
from typer.testing import CliRunner

from mouseface._errors import InputError
from mouseface.cli import app
from mouseface.io.neural import NeuralTraces, write_table
from mouseface.neural.sync import align
from mouseface.synth.neurons import (
    simulate_population,
    write_population_nwb,
    write_population_suite2p,
)
from mouseface.workflows.neural import STEPS, neural_correlates

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
    n = len(STEPS)
    assert bar.startswith("neural ") and f"{n}/{n}" in bar and "done in" in bar
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


def test_no_temporal_overlap(folder):
    root, _ = folder
    res = invoke(root / "results", "--traces", root / "pop.nwb", "--offset", 500)
    cli_error(res, "no temporal overlap between imaging")


def test_timestamps_of_the_wrong_length(folder, tmp_path):
    root, _ = folder
    bad = tmp_path / "bad.csv"
    bad.write_text("time,n1,n2\n0.0,1,2\n0.1,1,\n0.1,3,4\n")
    res = invoke(root / "results", "--traces", bad)
    cli_error(res, "timestamps must increase")


def test_missing_traces_and_results(folder, tmp_path):
    root, _ = folder
    cli_error(invoke(root / "results", "--traces", tmp_path / "none.nwb"),
                    "NWB file not found")
    cli_error(invoke(tmp_path, "--traces", root / "pop.nwb"),
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
    cli_error(invoke(res_dir, "--traces", traces), "2 sessions in the results; name one "
                    "with --session")
    cli_error(invoke(res_dir, "--traces", traces, "--session", "zz"), "no session 'zz'")
    cli_error(invoke(res_dir, "--traces", traces, "--session", "a", "--null",
                           "circular", "--min-shift", 10),
                    "too short for a minimum shift of 10 s")
    cli_error(invoke(res_dir, "--traces", traces, "--session", "a", "--max-shift", 8),
                    "too short for the linear-shift null with shifts up to 8.0 s")
    cli_error(invoke(res_dir, "--traces", traces, "--session", "a", "--null", "rank"),
                    "null must be one of linear, circular")
    ok = invoke(res_dir, "--traces", traces, "--session", "a")
    assert ok.exit_code == 0, ok.output
    assert "decoding skipped" in ok.output
    assert (res_dir / "neural" / "neurons.csv").is_file()


@pytest.fixture(scope="module")
def sessions3(tmp_path_factory):
    """Three sessions of one animal with face movement; the same 30 neurons imaged in each,
    as one suite2p folder (frames_per_folder) and as one table per session."""
    from tests.unit.neural.conftest import write_results

    root = tmp_path_factory.mktemp("neural_sessions")
    res, frames, _ = write_results(root / "results", seconds=240.0, n_trials=6,
                                   sessions=("s1", "s2", "s3"), motion=True, seed=3)
    coupled = {i: 1 + i % 2 for i in range(8)}  # 0,2,4,6 pain; 1,3,5,7 sucrose
    coupled.update(dict.fromkeys(range(8, 12), 3))  # 8-11 follow motion energy only
    pops = []
    for k, s in enumerate(("s1", "s2", "s3")):
        f = frames[frames["session"] == s]
        probe = NeuralTraces.from_numpy(np.zeros((1, int(230 * FS))), rate=FS)
        a = align(probe, f["time"].to_numpy(),
                  f[[*(f"sim_{n}" for n in NAMES), "motion_energy"]].to_numpy().T,
                  [*NAMES, "motion_energy"])
        pops.append(simulate_population(a.expressions, a.time, 30, coupled=coupled, snr=2.0,
                                        seed=10 + k, names=[*NAMES, "motion_energy"]))
    from mouseface.synth.neurons import Population

    joined = Population(np.hstack([p.traces for p in pops]),
                        np.arange(sum(p.traces.shape[1] for p in pops)) / FS, FS,
                        pops[0].names, pops[0].truth, np.hstack([p.signal for p in pops]),
                        np.hstack([p.noise for p in pops]), {},
                        np.hstack([p.activity for p in pops]))
    write_population_suite2p(joined, root / "s2p", frames_per_folder=[p.traces.shape[1]
                                                                     for p in pops])
    for k, p in enumerate(pops):
        nt = p.to_traces()
        write_table(root / f"s{k + 1}.csv", nt.replace(neuron=np.array([f"c{i}" for i in
                                                                         nt.neuron])))
    return root, coupled


def test_several_sessions_with_movement_control(sessions3):
    root, coupled = sessions3
    res = invoke(root / "results", "--traces", root / "s2p", "--session", "s1", "--session",
                 "s2", "--session", "s3", "--permutations", 10, "--out", root / "out")
    assert res.exit_code == 0, res.output
    out = root / "out"
    summary = json.loads((out / "neural_summary.json").read_text())
    assert summary["sessions"] == ["s1", "s2", "s3"] and summary["segments"] == [2300] * 3
    assert summary["null"]["name"] == "linear"
    assert summary["null"]["shifts_per_session"] == "independent"
    assert summary["null"]["smallest_p"] == pytest.approx(1 / 10001)
    assert summary["movement"]["regressors"] == ["motion_energy", "motion_body"]
    assert summary["decoding"]["n_trials"] == 36 and summary["psth"]["n_trials"] == {
        "pain": 18, "sucrose": 18}
    for name in ("neurons.csv", "correlations.png", "movement.png", "movement.svg",
                 "examples.png", "psth.png"):
        assert (out / name).is_file(), name
    table = pd.read_csv(out / "neurons.csv")
    per = table.drop_duplicates("neuron").set_index("neuron")
    for i, j in coupled.items():
        if j < 3:  # expression neurons: found, for their expression, beyond movement
            assert per.loc[i, "preferred_expression"] == NAMES[j]
            assert per.loc[i, "tracks"] in ("expression", "both")
        else:  # movement neurons: not expression neurons once movement is controlled
            assert per.loc[i, "tracks"] in ("movement", "none", "shared")
    # one count everywhere: the terminal, the summary, the table (and the figure's groups)
    counts = summary["counts"]
    from_table = per["preferred_expression"].fillna("").value_counts().to_dict()
    assert {k: v for k, v in counts["preferred"].items() if v} == {
        k: v for k, v in from_table.items() if k}
    groups = ", ".join(f"{k} {v}" for k, v in counts["preferred"].items() if v)
    assert (f"neurons tracking an expression (q <= 0.05): {counts['tracking']} of 30 "
            f"({groups})") in res.output
    t = summary["movement"]["tracks"]
    assert sum(t.values()) == 30
    of = summary["movement"]["of_tracking"]  # nested: the categories add up to the tracking
    assert of["expression"] + of["both"] + of["movement"] + of["shared"] == counts["tracking"]
    assert of["movement"] + of["movement_only_others"] == t["movement"]
    assert (f"after movement control, of the {counts['tracking']}: {of['expression']} "
            f"expression, {of['both']} both, {of['movement']} only movement") in res.output


def test_a_region_filmed_in_some_sessions_only_is_left_out_of_the_movement_control(
        sessions3, tmp_path):
    """A body camera region in one session only (e.g. the fear session) must not cost the
    other sessions their frames: the control uses what every session measured, and says so."""
    import shutil

    root, _ = sessions3
    res = tmp_path / "results"
    shutil.copytree(root / "results", res)
    frames = pd.read_parquet(res / "frames.parquet")
    frames.loc[frames["session"] != "s1", "motion_body"] = np.nan
    frames.to_parquet(res / "frames.parquet")
    s = neural_correlates(res, root / "s2p", session=["s1", "s2", "s3"], n_permutations=10,
                          out=tmp_path / "out")
    assert s["movement"]["regressors"] == ["motion_energy"]
    assert any("motion_body measured in only some of the sessions" in w
               for w in s["warnings"])
    assert not any("NaN expression frames" in w for w in s["warnings"]), s["warnings"]
    # named on purpose (the demo: a body camera in the fear session only): no warning
    s = neural_correlates(res, root / "s2p", session=["s1", "s2", "s3"], n_permutations=10,
                          out=tmp_path / "named", movement=["motion_energy"], draw=False)
    assert s["movement"]["regressors"] == ["motion_energy"]
    assert not any("only some of the sessions" in w for w in s["warnings"]), s["warnings"]
    with pytest.raises(InputError, match=r"no movement column motion_tail \(it has: "
                       r"motion_energy, motion_body\)"):
        neural_correlates(res, root / "s2p", session=["s1", "s2", "s3"], draw=False,
                          out=tmp_path / "bad", movement=["motion_tail"])


def test_one_table_per_session_gives_the_same_neurons(sessions3):
    root, coupled = sessions3
    s = neural_correlates(root / "results", [root / f"s{k}.csv" for k in (1, 2, 3)],
                          session=["s1", "s2", "s3"], n_permutations=0, draw=False,
                          out=root / "out_tables", movement=False)
    table = pd.read_csv(root / "out_tables" / "neurons.csv")
    called = set(table.loc[table["preferred"], "neuron"].str.removeprefix("c").astype(int))
    assert {i for i, j in coupled.items() if j < 3} <= called
    assert s["movement"] is None and "tracks" not in table.columns


def test_several_sessions_need_matching_traces(sessions3, tmp_path):
    root, _ = sessions3
    three = ["--session", "s1", "--session", "s2", "--session", "s3"]
    cli_error(invoke(root / "results", "--traces", root / "s1.csv", *three),
                    "3 sessions but the traces hold one recording")
    other = tmp_path / "other.csv"
    pd.read_csv(root / "s2.csv").rename(columns={"c0": "x0"}).to_csv(other, index=False)
    cli_error(invoke(root / "results", "--traces", root / "s1.csv", "--traces", other,
                           "--session", "s1", "--session", "s2"),
                    "are not the 30 of")
    cli_error(invoke(root / "results", "--traces", root / "s1.csv", *three[:4],
                           "--offset", 0, "--offset", 1, "--offset", 2),
                    "3 offsets for 2 sessions")


def test_warnings_and_the_deconvolved_signal_reach_the_summary(folder):
    root, pop = folder
    s = neural_correlates(root / "results", root / "suite2p", offset=OFFSET,
                          deconvolved=True, n_permutations=0, draw=False,
                          out=root / "out_spks")
    assert s["signal"] == "deconvolved" and s["settings"]["tau"] is None
    assert any("no motion_energy or motion_<region> column" in w for w in s["warnings"])
    called = set(pd.read_csv(root / "out_spks" / "neurons.csv").query("preferred")["neuron"])
    assert set(pop.coupled) <= called  # deconvolved activity follows without a kernel


def test_figure_groups_are_the_summary_counts(sessions3):
    from mouseface.report.neural_figures import neuron_order

    root, _ = sessions3
    from mouseface.io.neural import read_traces

    nt = read_traces(root / "s1.csv")
    rng = np.random.default_rng(0)
    from mouseface.neural.encoding import encode

    y = nt.traces[:3].astype(float) + 0.02 * rng.normal(size=(3, nt.n_frames))
    enc = encode(nt.traces, y, fs=FS, names=["a", "b", "c"], neuron=nt.neuron)
    _, groups = neuron_order(enc)
    drawn = {g: b - a for g, a, b in groups if g != "none"}
    assert drawn == {k: v for k, v in enc.counts()["preferred"].items() if v}
    assert sum(drawn.values()) == enc.counts()["tracking"] >= 3


def test_hog_motion_components_join_the_movement_regressors(folder, tmp_path):
    """Movement from the HOG store of the run, without decoding the video again."""
    import shutil

    from mouseface.io.layout import ResultsLayout
    from mouseface.io.store import FeatureStore

    root, _ = folder
    res = tmp_path / "results"
    shutil.copytree(root / "results", res)
    frames = pd.read_parquet(res / "frames.parquet")
    t = frames["time"].to_numpy()
    rng = np.random.default_rng(0)
    hog = rng.random((t.size, 3, 3, 8)).astype(np.float32) * 0.05
    hog[:, 1, 1] += (np.sin(t / 3.0) > 0.9)[:, None] * 0.5  # a part that moves now and then
    store = FeatureStore.open(ResultsLayout(res).store("s1"), n_frames=t.size,
                              feature_shape=(3, 3, 8), chunk_size=1000, params={},
                              fingerprint="test")
    for i in range(store.n_chunks):
        a, b = i * 1000, min((i + 1) * 1000, t.size)
        store.write_chunk(i, hog[a:b], t[a:b])
    store.finalize()
    res_out = invoke(res, "--traces", root / "pop.nwb", "--offset", OFFSET, "--hog-motion", 2,
                     "--permutations", 0)
    assert res_out.exit_code == 0, res_out.output
    s = json.loads((res / "neural" / "neural_summary.json").read_text())
    assert s["movement"]["regressors"] == ["hog_motion_1", "hog_motion_2"]
    assert not any("no motion_energy" in w for w in s["warnings"])
    assert "(movement: hog_motion_1, hog_motion_2)" in res_out.output
