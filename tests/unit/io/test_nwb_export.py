"""NWB export: read back with pynwb equals what was written; the NWB validator finds nothing."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.unit.report.video_results import shared_results

from mouseface._errors import InputError
from mouseface.io.nwb_export import START_NOTE

pynwb = pytest.importorskip("pynwb")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return shared_results(tmp_path_factory)


@pytest.fixture(scope="module")
def exported(results):
    from mouseface.io.nwb_export import export_nwb

    with pytest.warns(UserWarning, match="sex and subject age or date_of_birth missing for 2 "
                      "of 2 sessions, which DANDI requires"):
        return export_nwb(results)


def _with_sessions_table(results, tmp_path, **columns) -> tuple[Path, Path]:
    """A copy of the results whose run.json points at a copy of the sessions table with
    ``columns`` added (one value per session, or one for all)."""
    import shutil

    copy = shutil.copytree(results, tmp_path / "results", ignore=shutil.ignore_patterns("nwb"))
    table = pd.read_csv(results.parent / "data" / "sessions.csv")
    for name, values in columns.items():
        table[name] = values
    table["video"] = [str(results.parent / "data" / v) for v in table["video"]]
    path = tmp_path / "sessions.csv"
    table.to_csv(path, index=False)
    run = json.loads((copy / "run.json").read_text())
    for i in run["inputs"]:
        if i.get("kind") == "sessions":
            i["path"] = str(path)
    (copy / "run.json").write_text(json.dumps(run))
    return copy, path


FULL = {"sex": ["F", "male"], "age": ["P90D", "p12w"], "strain": "C57BL/6J",
        "genotype": "wt", "experimenter": "Dolensek, Nejc; Gogolla, Nadine",
        "institution": "Max Planck Institute of Neurobiology", "lab": "Gogolla lab",
        "session_start_time": ["2019-03-01T10:00:00+01:00", "2019-03-02 11:30"],
        "session_description": ["baseline day", "second day"]}


def _inspect(path: Path) -> list:
    from nwbinspector import inspect_nwbfile, load_config

    return list(inspect_nwbfile(nwbfile_path=path, config=load_config("dandi")))


def test_one_file_per_session_written_atomically(results, exported):
    assert sorted(p.name for p in exported) == ["mA_s1.nwb", "mB_s1.nwb"]
    assert all(p.parent == results / "nwb" for p in exported)
    assert not [p for p in (results / "nwb").iterdir() if ".tmp" in p.name]


def test_round_trip_equals_what_was_written(results, exported):
    from pynwb import NWBHDF5IO

    from mouseface.io.nwb_export import read_session

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
            # 10 fps video, every frame there: a rate, not one timestamp per frame
            assert face.timestamps is None and (face.starting_time, face.rate) == (0.0, 10.0)
            np.testing.assert_allclose(read_session(path)["time"], f["time"], atol=1e-9)
            # one TimeSeries per prototype in processing/behavior
            series = nwb.processing["behavior"]["expression_similarity"].time_series
            assert sorted(series) == sorted(f"similarity_{n}" for n in names)
            for n in names:
                ts = series[f"similarity_{n}"]
                np.testing.assert_array_equal(ts.data[:], f[f"sim_{n}"].to_numpy())
                assert ts.timestamps is None and (ts.starting_time, ts.rate) == (0.0, 10.0)
                params = json.loads(ts.comments)
                assert params["hog"]["pixels_per_cell"] == [16, 16]
                assert params["prototypes"]["n_frames"] == 10
                # `run` builds per-animal prototypes, whatever [prototypes] mode says for fit
                assert params["prototypes"]["mode"] == params["model_mode"] == "per-animal"
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
    with pytest.warns(UserWarning, match="missing for 1 of 1 sessions"):
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
    with pytest.warns(UserWarning, match="DANDI"):
        (path,) = export_nwb(results, tmp_path / "b", sessions=["mA_s1"])
    with NWBHDF5IO(str(path), "r") as io:
        assert START_NOTE in io.read().notes
    with pytest.raises(InputError, match=r"no sessions \['zz'\]"):
        export_nwb(results, tmp_path, sessions=["zz"])


def test_export_cli(results, tmp_path):
    from typer.testing import CliRunner

    from mouseface.cli import app

    with pytest.warns(UserWarning, match="DANDI"):
        got = CliRunner().invoke(app, ["export-nwb", str(results), "--out", str(tmp_path),
                                       "--session", "mA_s1"])
    assert got.exit_code == 0, got.output
    assert (tmp_path / "mA_s1.nwb").is_file() and "1 NWB file(s)" in got.output
    got = CliRunner().invoke(app, ["export-nwb", str(tmp_path / "none")])
    assert got.exit_code == 2 and "results folder not found" in got.output


def test_dandi_inspection_finds_nothing_critical_with_full_metadata(results, exported,
                                                                  tmp_path):
    """Acceptance: `nwbinspector --config dandi` reports no critical issue once the sessions
    table has the metadata columns; without them it reports exactly what the warning named."""
    from nwbinspector import Importance

    before = {(m.check_function_name, m.importance.name) for p in exported
              for m in _inspect(p)}
    assert {("check_subject_sex", "CRITICAL"), ("check_subject_age", "CRITICAL")} <= before
    assert "check_regular_timestamps" not in {name for name, _ in before}  # rate, not stamps

    from mouseface.io.nwb_export import export_nwb

    copy, _ = _with_sessions_table(results, tmp_path, **FULL)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing missing: no warning
        paths = export_nwb(copy)
    messages = [m for p in paths for m in _inspect(p)]
    assert not [m for m in messages if m.importance == Importance.CRITICAL], messages
    assert messages == []  # not even a suggestion is left


def test_metadata_from_the_sessions_table_run_json_recorded(results, tmp_path):
    from pynwb import NWBHDF5IO

    from mouseface.io.nwb_export import export_nwb

    copy, _ = _with_sessions_table(results, tmp_path, **FULL)
    paths = dict(zip(["mA_s1", "mB_s1"], export_nwb(copy), strict=True))
    with NWBHDF5IO(str(paths["mA_s1"]), "r") as io:
        nwb = io.read()
        assert (nwb.subject.sex, nwb.subject.age, nwb.subject.strain) == ("F", "P90D",
                                                                          "C57BL/6J")
        assert nwb.subject.genotype == "wt" and nwb.subject.species == "Mus musculus"
        assert list(nwb.experimenter) == ["Dolensek, Nejc", "Gogolla, Nadine"]
        assert nwb.institution == "Max Planck Institute of Neurobiology"
        assert nwb.lab == "Gogolla lab" and nwb.session_description == "baseline day"
        assert nwb.session_start_time == dt.datetime(2019, 3, 1, 9, 0, tzinfo=dt.timezone.utc)
        assert "DANDI" not in (nwb.notes or "") and START_NOTE not in (nwb.notes or "")
    with NWBHDF5IO(str(paths["mB_s1"]), "r") as io:
        nwb = io.read()
        assert (nwb.subject.sex, nwb.subject.age) == ("M", "P12W")
        # a time without zone is UTC
        assert nwb.session_start_time == dt.datetime(2019, 3, 2, 11, 30,
                                                     tzinfo=dt.timezone.utc)


def test_subjects_table_from_the_command_line(results, tmp_path):
    from pynwb import NWBHDF5IO
    from typer.testing import CliRunner

    from mouseface.cli import app

    subjects = tmp_path / "subjects.csv"
    subjects.write_text("animal,sex,date_of_birth,strain\nmA,female,2018-12-01,C57BL/6J\n"
                        "mB,M,2018-11-20,C57BL/6J\n")
    got = CliRunner().invoke(app, ["export-nwb", str(results), "--out", str(tmp_path / "n"),
                                   "--subjects", str(subjects), "-q"])
    assert got.exit_code == 0, got.output
    assert "warning" not in got.output
    with NWBHDF5IO(str(tmp_path / "n" / "mA_s1.nwb"), "r") as io:
        s = io.read().subject
        assert (s.sex, s.strain) == ("F", "C57BL/6J")
        assert s.date_of_birth == dt.datetime(2018, 12, 1, tzinfo=dt.timezone.utc)
    assert not [m for m in _inspect(tmp_path / "n" / "mA_s1.nwb")
                if m.importance.name == "CRITICAL"]


def test_without_metadata_one_warning_line_and_the_notes_say_what_is_missing(results,
                                                                             tmp_path):
    from pynwb import NWBHDF5IO
    from typer.testing import CliRunner

    from mouseface.cli import app

    with pytest.warns(UserWarning) as caught:
        got = CliRunner().invoke(app, ["export-nwb", str(results), "--out", str(tmp_path),
                                       "-q"])
    assert got.exit_code == 0, got.output
    (message,) = [str(w.message) for w in caught]  # one warning for all sessions, one line
    assert "\n" not in message and "sex" in message and "--subjects" in message
    with NWBHDF5IO(str(tmp_path / "mA_s1.nwb"), "r") as io:
        assert ("an archive (DANDI) will ask for subject sex and subject age or "
                "date_of_birth") in io.read().notes


@pytest.mark.parametrize("columns, message", [
    ({"sex": ["F", "x"]}, r"sessions.csv: row 3: sex 'x' is not one of M, F, U, O"),
    ({"age": ["90 days", "P1D"]}, r"row 2: age '90 days' is not an ISO 8601 duration"),
    ({"session_start_time": ["soon", ""]}, r"row 2: session_start_time 'soon' is not a date"),
])
def test_bad_metadata_is_one_line_naming_the_row(results, tmp_path, columns, message):
    from mouseface.io.nwb_export import export_nwb

    copy, _ = _with_sessions_table(results, tmp_path, **columns)
    with pytest.raises(InputError, match=message):
        export_nwb(copy)
    assert not (copy / "nwb").exists()


def test_subjects_table_that_contradicts_the_sessions_table(results, tmp_path):
    from mouseface.io.nwb_export import export_nwb

    copy, _ = _with_sessions_table(results, tmp_path, sex=["F", "M"])
    subjects = tmp_path / "subjects.csv"
    subjects.write_text("animal,sex\nmA,M\nmB,M\n")
    with pytest.raises(InputError, match="animal 'mA': sex is 'F' in the sessions table but "
                       "'M' in the subjects table"):
        export_nwb(copy, subjects=subjects)
    subjects.write_text("animal,strain\nmA,x\nmA,y\n")
    with pytest.raises(InputError, match=r"row 3: duplicate animal 'mA' \(first at row 2\)"):
        export_nwb(copy, subjects=subjects)


def test_irregular_frame_times_keep_their_timestamps(results, tmp_path):
    """A dropped frame makes the timing irregular: then every frame keeps its timestamp."""
    import shutil

    from pynwb import NWBHDF5IO

    from mouseface.io.nwb_export import export_nwb, read_session

    copy = shutil.copytree(results, tmp_path / "results", ignore=shutil.ignore_patterns("nwb"))
    frames = pd.read_parquet(copy / "frames.parquet")
    late = (frames["session"] == "mA_s1") & (frames["frame"] >= 100)
    frames.loc[late, "time"] += 0.1  # one frame lost after frame 99
    frames.to_parquet(copy / "frames.parquet")
    with pytest.warns(UserWarning, match="DANDI"):
        path, regular = export_nwb(copy, tmp_path / "nwb")
    want = frames.loc[frames["session"] == "mA_s1", "time"].to_numpy()
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        np.testing.assert_array_equal(nwb.acquisition["face_video"].timestamps[:], want)
        series = nwb.processing["behavior"]["expression_similarity"].time_series
        assert all(s.rate is None for s in series.values())
    assert read_session(path)["rate"] is None
    assert read_session(regular)["rate"] == 10.0


def test_regular_rate_tolerates_rounded_timestamps_but_not_gaps():
    from mouseface.io.nwb_export import regular_rate

    ntsc = np.arange(3000) * 1001 / 30000  # 29.97 fps
    assert regular_rate(ntsc) == (0.0, 29.97002997)
    assert regular_rate(np.round(ntsc, 3))[1] == pytest.approx(29.97, abs=1e-3)  # ms clocks
    rng = np.random.default_rng(0)
    jitter = ntsc + rng.uniform(-3e-3, 3e-3, ntsc.size)  # a camera stamping on arrival
    assert regular_rate(jitter) is None
    assert regular_rate(np.delete(ntsc, 1000)) is None  # a dropped frame
    assert regular_rate(np.array([0.0])) is None
    assert regular_rate(np.array([0.0, 0.1, 0.1, 0.2])) is None


def test_score_folder_records_the_applied_model_and_its_mode(results, tmp_path):
    """`score` results hold no model/: the export finds the model run.json names and says
    it was a transfer model (the settings' mode is what `fit` used)."""
    from mouseface.io.nwb_export import export_nwb, read_session
    from mouseface.settings import load_settings
    from mouseface.workflows import pipeline

    data = results.parent / "data"
    settings = load_settings(hog={"pixels_per_cell": (16, 16)},
                             prototypes={"baseline": 2.0, "n_frames": 10, "mode": "transfer"})
    model = pipeline.fit(data / "sessions.csv", data / "events.csv", tmp_path / "m",
                         settings=settings, quiet=True)
    scored = pipeline.score(model, data / "sessions.csv", data / "events.csv", tmp_path / "s",
                            quiet=True, report=False)
    with pytest.warns(UserWarning, match="DANDI"):
        (path,) = export_nwb(scored, sessions=["mA_s1"])
    got = read_session(path)
    assert got["params"]["model_mode"] == got["params"]["prototypes"]["mode"] == "transfer"
    assert got["params"]["model_key"] == "transfer"
    assert sorted(got["prototypes"]) == ["neutral", "pain", "pleasure"]


def test_a_condition_that_is_no_nwb_name_is_escaped_and_read_back(tmp_path):
    """``sucrose/water 5%`` cannot name an NWB object ('/' separates them): the names are
    escaped (``%2F``, ``%25``) and read back as the condition; no session is lost."""
    from tests.unit.report.video_results import make_tables

    from mouseface.io.nwb_export import export_nwb, read_session
    from mouseface.settings import load_settings
    from mouseface.workflows import pipeline

    sessions, events = make_tables(tmp_path / "data")
    ev = pd.read_csv(events)
    ev["trial_type"] = ev["trial_type"].replace({"pain": "sucrose/water 5%"})
    ev.to_csv(events, index=False)
    settings = load_settings(hog={"pixels_per_cell": (16, 16)},
                             prototypes={"baseline": 2.0, "n_frames": 10})
    out = pipeline.run(sessions, events, tmp_path / "r", settings=settings, quiet=True,
                       report=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no subject metadata: not this test's
        written = export_nwb(out)
    assert sorted(p.name for p in written) == ["mA_s1.nwb", "mB_s1.nwb"]
    frames = pd.read_parquet(out / "frames.parquet")
    for path in written:
        got = read_session(path)
        f = frames[frames["session"] == path.stem]
        assert set(got["similarity"]) == {"neutral", "pleasure", "sucrose/water 5%"}
        np.testing.assert_array_equal(got["similarity"]["sucrose/water 5%"],
                                      f["sim_sucrose/water 5%"].to_numpy(np.float32))
        trials = got["trials"]
        assert "score_sucrose/water 5%" in trials.columns
        assert set(trials["trial_type"]) == {"pleasure", "sucrose/water 5%"}
