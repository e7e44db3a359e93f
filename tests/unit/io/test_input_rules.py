"""The input rules of docs/your-data.md that the tables enforce: inputs that would give a
silently wrong result are refused with one line naming the file, the rows and the problem.

Each rule here once let a wrong number through: a duplicated event cross-fitted against its
own copy, two sessions reading the same frames, a condition merged with the baseline, a
session id that wrote outside the results folder.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mouseface._errors import InputError
from mouseface.io.tables import read_events, read_sessions


@pytest.fixture
def folder(tmp_path) -> Path:
    (tmp_path / "videos").mkdir()
    for name in ("m1.mp4", "m2.mp4"):
        (tmp_path / "videos" / name).write_bytes(b"x")
    return tmp_path


def _sessions(folder: Path, rows: list[dict]) -> pd.DataFrame:
    path = folder / "sessions.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return read_sessions(path)


def _events(folder: Path, text: str, sessions: pd.DataFrame | None) -> pd.DataFrame:
    path = folder / "events.csv"
    path.write_text(text.lstrip())
    return read_events(path, sessions)


TWO = [{"session": "s1", "video": "videos/m1.mp4", "animal": "m1"},
       {"session": "s2", "video": "videos/m2.mp4", "animal": "m2"}]


# --------------------------------------------------------------------------- same frames twice


def test_a_duplicated_event_row_is_refused(folder):
    text = """
session,onset,duration,trial_type
s1,2,1,pain
s1,5,1,pain
s1,2,1,pain
"""
    with pytest.raises(InputError, match=r"events\.csv: row 4: .*same session, onset and "
                                         r"trial_type as row 2") as e:
        _events(folder, text, _sessions(folder, TWO))
    assert "\n" not in str(e.value)


def test_overlapping_stimulus_windows_in_one_session_are_refused(folder):
    text = """
session,onset,duration,trial_type
s1,2,2,pain
s1,3,1,sucrose
"""
    with pytest.raises(InputError, match=r"row 3: .*stimulus window 3-4 s overlaps row 2's "
                                         r"\(2-4 s\)"):
        _events(folder, text, _sessions(folder, TWO))


def test_back_to_back_windows_and_other_sessions_are_fine(folder):
    text = """
session,onset,duration,trial_type
s1,2,1,pain
s1,3,1,pain
s2,2,1,pain
"""
    assert len(_events(folder, text, _sessions(folder, TWO))) == 3


SHARED = [{"session": "day1", "video": "videos/m1.mp4", "animal": "m1", "roi": "0,0,50,50"},
          {"session": "day1b", "video": "videos/m1.mp4", "animal": "m1", "roi": "20,20,50,50"}]


def test_two_sessions_of_one_animal_reading_the_same_frames_are_refused(folder):
    text = """
session,onset,duration,trial_type
day1,2,1,pain
day1b,2.5,1,pain
"""
    with pytest.raises(InputError, match=r"events\.csv: rows 2 and 3: sessions 'day1' and "
                                         r"'day1b' of animal 'm1' read the same frames") as e:
        _events(folder, text, _sessions(folder, SHARED))
    assert "m1.mp4" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("change", [
    {"roi": ["0,0,50,50", "60,0,50,50"]},       # two faces in one frame
    {"animal": ["m1", "m2"]},                   # two animals
    {"video": ["videos/m1.mp4", "videos/m2.mp4"]},
])
def test_sessions_sharing_a_video_without_sharing_frames_are_fine(folder, change):
    rows = pd.DataFrame(SHARED).assign(**change).to_dict("records")
    text = "session,onset,duration,trial_type\nday1,2,1,pain\nday1b,2.5,1,pain\n"
    assert len(_events(folder, text, _sessions(folder, rows))) == 2


def test_one_video_split_in_time_between_two_sessions_is_fine(folder):
    text = "session,onset,duration,trial_type\nday1,2,1,pain\nday1b,20,1,pain\n"
    assert len(_events(folder, text, _sessions(folder, SHARED))) == 2


# --------------------------------------------------------------------------- reserved names


@pytest.mark.parametrize("name", ["neutral", "Neutral", " neutral "])
def test_a_condition_named_neutral_is_refused(folder, name):
    text = f"session,onset,duration,trial_type\ns1,2,1,pain\ns1,5,1,{name}\n"
    with pytest.raises(InputError, match=r"events\.csv: row 3: trial_type '[nN]eutral' is "
                                         r"reserved.*baseline"):
        _events(folder, text, _sessions(folder, TWO))


@pytest.mark.parametrize("column", ["score_pain", "peak_pain", "au_eye_opening", "n_frames",
                                    "n_baseline", "window_flag"])
def test_event_columns_that_trials_csv_writes_are_refused(folder, column):
    text = f"session,onset,duration,trial_type,{column}\ns1,2,1,pain,1\n"
    with pytest.raises(InputError, match=rf"header \(row 1\): column '{column}' is "
                                         r"reserved"):
        _events(folder, text, _sessions(folder, TWO))


def test_conditions_whose_output_columns_collide_are_refused(folder):
    """trials.csv writes grade_<c> and grade_mean_<c>: 'mean_pain' beside 'pain' is one
    column twice."""
    text = "session,onset,duration,trial_type\ns1,2,1,pain\ns1,5,1,mean_pain\n"
    with pytest.raises(InputError, match=r"row 3: trial_type 'mean_pain' beside 'pain'.*"
                                         r"grade_mean_pain"):
        _events(folder, text, _sessions(folder, TWO))
    ok = "session,onset,duration,trial_type\ns1,2,1,pain\ns1,5,1,mean_sucrose\n"
    assert len(_events(folder, ok, _sessions(folder, TWO))) == 2


def test_an_animal_column_that_disagrees_with_the_sessions_is_refused(folder):
    text = "session,onset,duration,trial_type,animal\ns1,2,1,pain,m1\ns2,2,1,pain,m9\n"
    with pytest.raises(InputError, match=r"row 3: animal 'm9' but the sessions table gives "
                                         r"session 's2' animal 'm2'"):
        _events(folder, text, _sessions(folder, TWO))
    ok = "session,onset,duration,trial_type,animal\ns1,2,1,pain,m1\ns2,2,1,pain,m2\n"
    assert len(_events(folder, ok, _sessions(folder, TWO))) == 2


def test_a_region_named_like_a_quality_column_is_refused(folder):
    rows = [{**TWO[0], "roi_energy": "0,0,10,10"}]
    with pytest.raises(InputError, match=r"column 'roi_energy'.*motion_energy"):
        _sessions(folder, rows)


# --------------------------------------------------------------------------- ids that name files


@pytest.mark.parametrize(("session", "why"), [
    ("day1/m01", "'/'"), ("../a", "'/'"), ("..", "'..'"), (".hidden", "starts with '.'"),
    ("a\\b", "'\\\\'"), ("m1:day2", "':'"), ("a*", "'*'"), ("m01 ", None),
])
def test_session_ids_that_are_not_safe_file_names_are_refused(folder, session, why):
    rows = [{"session": session, "video": "videos/m1.mp4"}]
    if why is None:  # surrounding spaces are stripped like every text cell
        assert read_sessions(_write_rows(folder, rows))["session"].tolist() == ["m01"]
        return
    with pytest.raises(InputError, match=r"sessions\.csv: row 2: session id .* is not a safe "
                                         r"file name") as e:
        read_sessions(_write_rows(folder, rows))
    assert why in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("animal", ["cage1/m01", "..", "M:1"])
def test_animal_ids_that_are_not_safe_file_names_are_refused(folder, animal):
    """An animal id names registration/qc_<animal>.png."""
    rows = [{"session": "s1", "video": "videos/m1.mp4", "animal": animal}]
    with pytest.raises(InputError, match=r"row 2: animal id .* is not a safe file name"):
        read_sessions(_write_rows(folder, rows))


def test_session_ids_equal_but_for_case_are_refused(folder):
    rows = [{"session": "M01", "video": "videos/m1.mp4"},
            {"session": "m01", "video": "videos/m2.mp4"}]
    with pytest.raises(InputError, match=r"row 3: session 'm01' differs from 'M01' \(row 2\) "
                                         r"only in case"):
        read_sessions(_write_rows(folder, rows))


def test_the_layout_never_joins_an_unsafe_id_into_a_path(tmp_path):
    from mouseface.io.layout import ResultsLayout

    layout = ResultsLayout(tmp_path)
    assert layout.store("m01_day1") == tmp_path / "features" / "m01_day1.zarr"
    for bad in ("../a", "day1/m01", ""):
        with pytest.raises(InputError, match="not a safe file name"):
            layout.store(bad)
        with pytest.raises(InputError, match="not a safe file name"):
            layout.nwb_file(bad)
        with pytest.raises(InputError, match="animal id .* not a safe file name"):
            layout.registration_qc(bad)


def _write_rows(folder: Path, rows: list[dict]) -> Path:
    path = folder / "sessions.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


# --------------------------------------------------------------------------- windows


def test_zero_duration_events_are_refused(folder):
    text = "session,onset,duration,trial_type\ns1,2,1,pain\ns1,5,0,pain\n"
    with pytest.raises(InputError, match=r"row 3: duration 0 s: .*BIDS"):
        _events(folder, text, _sessions(folder, TWO))


def test_a_window_longer_than_the_video_is_refused(folder):
    """Durations in ms: a 1000-s window on a 13-s video."""
    from mouseface.io.tables import check_events_within

    path = folder / "events.csv"
    ev = _events(folder, "session,onset,duration,trial_type\ns1,2,1000,pain\n",
                 _sessions(folder, TWO))
    with pytest.raises(InputError, match=r"events\.csv: row 2: duration 1000 s is longer than "
                                         r"the whole video of session 's1' \(13 s\).*seconds"):
        check_events_within(ev, "s1", 13.0, path)
