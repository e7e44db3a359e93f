"""NWB export: read back with pynwb equals what was written; the NWB validator finds nothing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.unit.report.video_results import shared_results

from mouseface._errors import InputError

pynwb = pytest.importorskip("pynwb")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return shared_results(tmp_path_factory)


@pytest.fixture(scope="module")
def exported(results):
    from mouseface.io.nwb_export import export_nwb

    return export_nwb(results)


def test_one_file_per_session_written_atomically(results, exported):
    assert sorted(p.name for p in exported) == ["mA_s1.nwb", "mB_s1.nwb"]
    assert all(p.parent == results / "nwb" for p in exported)
    assert not [p for p in (results / "nwb").iterdir() if ".tmp" in p.name]


def test_round_trip_equals_what_was_written(results, exported):
    from pynwb import NWBHDF5IO

    frames = pd.read_parquet(results / "frames.parquet")
    trials = pd.read_csv(results / "trials.csv")
    names = [c.removeprefix("sim_") for c in frames.columns if c.startswith("sim_")]
    for path in exported:
        session = path.stem
        f = frames[frames["session"] == session]
        with NWBHDF5IO(str(path), "r") as io:
            nwb = io.read()
            assert nwb.session_id == session
            assert nwb.subject.subject_id == f["animal"].iloc[0]
            assert nwb.subject.species == "Mus musculus"
            # the video, linked as an external ImageSeries with its timestamps
            face = nwb.acquisition["face_video"]
            assert face.format == "external"
            assert list(face.starting_frame[:]) == [0]
            video = (path.parent / face.external_file[0]).resolve()
            assert video == (results.parent / "data" / f"{session}.mp4").resolve()
            np.testing.assert_array_equal(face.timestamps[:], f["time"].to_numpy())
            # one TimeSeries per prototype in processing/behavior
            series = nwb.processing["behavior"]["expression_similarity"].time_series
            assert sorted(series) == sorted(f"similarity_{n}" for n in names)
            for n in names:
                ts = series[f"similarity_{n}"]
                np.testing.assert_array_equal(ts.data[:], f[f"sim_{n}"].to_numpy())
                np.testing.assert_array_equal(ts.timestamps[:], f["time"].to_numpy())
                params = json.loads(ts.comments)
                assert params["hog"]["pixels_per_cell"] == [16, 16]
                assert params["prototypes"]["n_frames"] == 10
                assert params["model_key"] == f["animal"].iloc[0]
            # the prototypes themselves
            from mouseface.io.model import load_model

            saved, meta = load_model(results / "model")
            got_names, protos = saved[f["animal"].iloc[0]]
            table = nwb.processing["behavior"]["expression_prototypes"]
            assert list(table["prototype"][:]) == got_names
            np.testing.assert_array_equal(
                np.asarray(table["hog"][:]).reshape(len(protos), -1), protos)
            # the trials table: events' columns and scores
            got = nwb.trials.to_dataframe()
            want = trials[trials["session"] == session].sort_values("onset")
            np.testing.assert_array_equal(got["start_time"], want["onset"])
            np.testing.assert_array_equal(got["stop_time"], want["onset"] + want["duration"])
            for c in want.columns:
                if c in ("onset", "duration"):
                    continue
                if want[c].dtype.kind in "fi":
                    np.testing.assert_array_equal(got[c].to_numpy(), want[c].to_numpy())
                else:
                    assert list(got[c]) == list(want[c].astype(str))


def test_validator_reports_no_errors(exported):
    from pynwb import validate

    for path in exported:
        errors = validate(path=str(path))
        if isinstance(errors, tuple):  # older pynwb: (errors, status)
            errors = errors[0]
        assert list(errors) == [], f"{path.name}: {errors}"


def test_start_time_and_session_selection(results, tmp_path):
    from mouseface.io.nwb_export import START_NOTE, export_nwb, read_session

    when = dt.datetime(2024, 2, 23, 8, 51, tzinfo=dt.timezone.utc)
    (path,) = export_nwb(results, tmp_path, sessions=["mB_s1"], session_start_time=when)
    assert path == tmp_path / "mB_s1.nwb"
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        assert nwb.session_start_time == when
        assert START_NOTE not in (nwb.notes or "")
    got = read_session(path)
    assert Path(got["external_file"][0]).name == "mB_s1.mp4"
    assert set(got["similarity"]) == {"neutral", "pain", "pleasure"}
    # default start: the video's modification time, and the notes say so
    (path,) = export_nwb(results, tmp_path / "b", sessions=["mA_s1"])
    with NWBHDF5IO(str(path), "r") as io:
        assert START_NOTE in io.read().notes
    with pytest.raises(InputError, match=r"no sessions \['zz'\]"):
        export_nwb(results, tmp_path, sessions=["zz"])


def test_export_cli(results, tmp_path):
    from typer.testing import CliRunner

    from mouseface.cli import app

    got = CliRunner().invoke(app, ["export-nwb", str(results), "--out", str(tmp_path),
                                   "--session", "mA_s1"])
    assert got.exit_code == 0, got.output
    assert (tmp_path / "mA_s1.nwb").is_file() and "1 NWB file(s)" in got.output
    got = CliRunner().invoke(app, ["export-nwb", str(tmp_path / "none")])
    assert got.exit_code == 2 and "results folder not found" in got.output
