"""Neural readers and writers: suite2p, NWB and tables round-trip; bad files say what is wrong."""

import numpy as np
import pytest

from mouseface._errors import InputError
from mouseface.io.neural import (
    NeuralTraces,
    read_nwb,
    read_suite2p,
    read_table,
    read_traces,
    running_baseline,
    write_nwb,
    write_suite2p,
    write_table,
)
from mouseface.synth.neurons import (
    population_fluorescence,
    simulate_population,
    write_population_nwb,
    write_population_suite2p,
)


@pytest.fixture(scope="module")
def pop():
    fs = 15.0
    t = np.arange(int(120 * fs)) / fs
    drive = np.vstack([np.sin(t / 5.0) ** 4, np.cos(t / 9.0) ** 4])
    return simulate_population(drive, t, 12, coupled={0: 0, 1: 1}, snr=1.0, seed=3)


def test_population_round_trips_through_suite2p(pop, tmp_path):
    folder = write_population_suite2p(pop, tmp_path / "plane0", n_noncells=3, neuropil=0.7)
    f, fneu = population_fluorescence(pop, neuropil=0.7)
    raw = read_suite2p(folder, neuropil=0, dff=False, cells_only=False)
    assert raw.n_neurons == 15 and raw.attrs["kind"] == "suite2p"
    np.testing.assert_array_equal(raw.traces[:12], f)  # exactly what was written
    corrected = read_suite2p(folder, neuropil=0.7, dff=False)
    np.testing.assert_array_equal(corrected.neuron, np.arange(12))  # non-cells dropped
    np.testing.assert_array_equal(corrected.traces, f - np.float32(0.7) * fneu)
    # F - 0.7 Fneu = f0 (1 + dF/F): dividing by f0 gives the simulated dF/F back
    np.testing.assert_allclose(corrected.traces / 200.0 - 1.0, pop.traces, atol=1e-4)
    np.testing.assert_allclose(corrected.time, pop.time, atol=1e-9)
    assert corrected.attrs["neuropil"] == 0.7 and corrected.attrs["source"] == str(folder)


def test_suite2p_dff_recovers_transients_on_a_flat_baseline(tmp_path):
    # sparse non-negative transients: the running 8th percentile of F is f0 itself
    rng = np.random.default_rng(1)
    x = np.zeros((4, 3000))
    for i in range(4):
        for on in rng.choice(2900, size=8, replace=False):
            x[i, on:on + 60] += 0.5 * np.exp(-np.arange(60) / 15.0)
    fneu = 80 + rng.normal(size=x.shape)
    folder = write_suite2p(tmp_path / "p", 150 * (1 + x) + 0.7 * fneu, fneu, fs=30.0)
    for method in ("percentile", "exact", "maximin"):
        dff = read_suite2p(folder, baseline_window=20.0, baseline_method=method)
        np.testing.assert_allclose(dff.traces, x, atol=2e-3 if method != "maximin" else 2e-2)


def test_population_round_trips_through_nwb(pop, tmp_path):
    path = write_population_nwb(pop, tmp_path / "pop.nwb")
    back = read_nwb(path)
    np.testing.assert_array_equal(back.traces, pop.traces)
    np.testing.assert_allclose(back.time, pop.time, atol=1e-9)
    np.testing.assert_array_equal(back.neuron, np.arange(12))
    assert back.attrs["series"] == "DfOverF/RoiResponseSeries"


def test_nwb_with_irregular_timestamps_and_named_rois(tmp_path):
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.uniform(0.03, 0.04, 200))
    nt = NeuralTraces.from_numpy(rng.normal(size=(3, 200)), t, neuron=["a", "b", "c"])
    back = read_traces(write_nwb(tmp_path / "x.nwb", nt, interface="Fluorescence"))
    np.testing.assert_array_equal(back.time, t)
    assert back.neuron.tolist() == ["a", "b", "c"]
    assert back.attrs["signal"] == "fluorescence"


@pytest.mark.parametrize("name", ["t.csv", "t.tsv", "t.parquet"])
def test_table_round_trip(pop, tmp_path, name):
    nt = pop.to_traces()
    back = read_table(write_table(tmp_path / name, nt))
    np.testing.assert_array_equal(back.traces, nt.traces)
    np.testing.assert_allclose(back.time, nt.time, rtol=0, atol=1e-12)
    assert back.neuron.tolist() == [str(i) for i in range(12)]


def test_running_baseline_methods_agree_on_a_slow_trace():
    t = np.arange(6000) / 30.0
    f = (100 + 10 * np.sin(t / 40.0) + np.random.default_rng(0).normal(size=t.size))[None]
    exact = running_baseline(f, 900, method="exact")
    fast = running_baseline(f, 900, method="percentile")
    maximin = running_baseline(f, 900, method="maximin")
    assert np.abs(fast - exact).max() < 1.5
    assert np.abs(maximin - exact).max() < 5.0  # maximin sits a little off


# ------------------------------------------------------------------------------ bad input
def test_traces_and_timestamps_of_different_length():
    with pytest.raises(InputError, match="100 frames but there are 99 timestamps"):
        NeuralTraces.from_numpy(np.zeros((2, 100)), np.arange(99) / 10.0)


def test_table_with_bad_time_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("time,n1\n0.0,1\n0.0,2\n")
    with pytest.raises(InputError, match=r"t\.csv: timestamps must increase"):
        read_table(path)
    path.write_text("when,n1\n0.0,1\n")
    with pytest.raises(InputError, match="no 'time' column"):
        read_table(path)
    path.write_text("time,n1\n0.0,x\n0.1,y\n")
    with pytest.raises(InputError, match=r"non-numeric columns \['n1'\]"):
        read_table(path)


def test_suite2p_bad_folders(tmp_path):
    with pytest.raises(InputError, match="suite2p folder not found"):
        read_suite2p(tmp_path / "nope")
    with pytest.raises(InputError, match="not a suite2p folder"):
        read_suite2p(tmp_path)
    f = np.ones((3, 50), np.float32)
    folder = write_suite2p(tmp_path / "p", f, fs=10.0)
    np.save(folder / "Fneu.npy", np.ones((2, 50), np.float32))
    with pytest.raises(InputError, match=r"Fneu\.npy has shape \(2, 50\) but F\.npy \(3, 50\)"):
        read_suite2p(folder)
    np.save(folder / "Fneu.npy", np.ones((3, 50), np.float32))
    np.save(folder / "ops.npy", np.array({"nframes": 50}, dtype=object))
    with pytest.raises(InputError, match="ops.npy has no frame rate 'fs'"):
        read_suite2p(folder)
    assert read_suite2p(folder, rate=10.0, neuropil=0.5).n_neurons == 3
    (folder / "F.npy").write_bytes(b"garbage")
    with pytest.raises(InputError, match=r"F\.npy: cannot read \.npy"):
        read_suite2p(folder, rate=10.0)


def test_nwb_without_ophys(tmp_path):
    from datetime import datetime, timezone

    from pynwb import NWBHDF5IO, NWBFile

    path = tmp_path / "empty.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(NWBFile(session_description="x", identifier="x",
                         session_start_time=datetime(2020, 1, 1, tzinfo=timezone.utc)))
    with pytest.raises(InputError, match="no processing module 'ophys'"):
        read_nwb(path)
    bad = tmp_path / "bad.nwb"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(InputError, match=r"bad\.nwb: cannot read NWB"):
        read_nwb(bad)


def test_unknown_kind(tmp_path):
    with pytest.raises(InputError, match="kind must be one of suite2p, nwb, table"):
        read_traces(tmp_path, kind="mat")


def test_deconvolved_activity_from_suite2p_and_nwb(pop, tmp_path):
    folder = write_population_suite2p(pop, tmp_path / "plane0", n_noncells=2)
    spks = read_suite2p(folder, deconvolved=True)
    assert spks.attrs["signal"] == "deconvolved" and spks.attrs["neuropil"] == 0.0
    np.testing.assert_array_equal(spks.traces, pop.activity)  # cells only, no ΔF/F
    assert np.all(spks.traces >= 0)
    nwb = read_traces(write_population_nwb(pop, tmp_path / "pop.nwb"), deconvolved=True)
    assert nwb.attrs["series"] == "Deconvolved/RoiResponseSeries"
    np.testing.assert_array_equal(nwb.traces, pop.activity)
    default = read_traces(tmp_path / "pop.nwb")  # ΔF/F stays the default
    assert default.attrs["signal"] == "dff"
    np.testing.assert_array_equal(default.traces, pop.traces)


def test_nwb_default_skips_neuropil_and_deconvolved_series(pop, tmp_path):
    # suite2p's NWB export: Fluorescence, Neuropil and Deconvolved side by side; the ΔF/F
    # reader must not pick the neuropil or deconvolved one by accident
    nt = pop.to_traces()
    path = write_nwb(tmp_path / "s2p.nwb", nt.replace(traces=nt.traces + 5.0),
                     interface="Fluorescence", series="plane0", deconvolved=pop.activity)
    back = read_nwb(path)
    assert back.attrs["series"] == "Fluorescence/plane0"
    assert back.attrs["signal"] == "fluorescence"
    with pytest.raises(InputError, match="no deconvolved series"):
        read_nwb(write_nwb(tmp_path / "plain.nwb", nt), deconvolved=True)


def test_suite2p_frames_per_folder_is_kept_and_checked(pop, tmp_path):
    n = pop.traces.shape[1]
    folder = write_population_suite2p(pop, tmp_path / "p", frames_per_folder=[n - 500, 500])
    assert read_suite2p(folder).attrs["frames_per_folder"] == [n - 500, 500]
    bad = write_population_suite2p(pop, tmp_path / "bad", frames_per_folder=[10, 20])
    with pytest.raises(InputError, match=rf"frames_per_folder sums to 30 but there are {n} "
                       "frames"):
        read_suite2p(bad)


def test_a_table_has_no_separate_deconvolved_activity(pop, tmp_path):
    path = write_table(tmp_path / "t.csv", pop.to_traces())
    with pytest.raises(InputError, match="a table has no separate deconvolved activity"):
        read_traces(path, deconvolved=True)
    with pytest.raises(InputError, match="missing suite2p file"):
        read_suite2p(write_suite2p(tmp_path / "nospks", np.ones((2, 50)), fs=10.0),
                     deconvolved=True)
