"""Sessions and events tables: good tables in every format, and one test per problem.

Rows in messages are spreadsheet rows: the header is row 1, the first data row is row 2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mouseface._errors import InputError
from mouseface.io.tables import (
    check_events_within,
    check_roi,
    read_events,
    read_sessions,
    read_table,
    validate_sessions,
)


@pytest.fixture
def folder(tmp_path) -> Path:
    """A study folder: two video files and a frame folder beside the tables."""
    (tmp_path / "videos").mkdir()
    for name in ("m1.mp4", "m2.mp4"):
        (tmp_path / "videos" / name).write_bytes(b"x")
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "frame1.png").write_bytes(b"x")  # only its name is looked at here
    return tmp_path


def _write(path: Path, text: str) -> Path:
    path.write_text(text.lstrip())
    return path


def _sessions(folder: Path, text: str, name: str = "sessions.csv") -> Path:
    return _write(folder / name, text)


GOOD = """
session,video,animal,roi,fps,notes
s1,videos/m1.mp4,m1,"540,150,230,180",,first day
s2,videos/m2.mp4,m2,,30,
s3,frames,m2, ,20,image frames
"""


# --------------------------------------------------------------------------- sessions


def test_sessions_read_and_normalised(folder):
    df = read_sessions(_sessions(folder, GOOD))
    assert list(df.columns) == ["session", "video", "animal", "roi", "fps", "notes"]
    assert list(df["session"]) == ["s1", "s2", "s3"]
    # relative paths are relative to the table's folder, returned absolute
    assert df["video"].tolist() == [str(folder / "videos/m1.mp4"), str(folder / "videos/m2.mp4"),
                                    str(folder / "frames")]
    assert df["roi"].tolist() == [(540, 150, 230, 180), None, None]
    assert np.isnan(df["fps"][0]) and df["fps"].tolist()[1:] == [30.0, 20.0]
    assert df["notes"].tolist()[0] == "first day"  # extra columns carried


def test_relative_video_paths_follow_the_table_not_the_cwd(folder, monkeypatch, tmp_path_factory):
    path = _sessions(folder, GOOD)
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    assert read_sessions(path)["video"][0] == str(folder / "videos" / "m1.mp4")


def test_animal_defaults_to_session(folder):
    df = read_sessions(_sessions(folder, "session,video\n7,videos/m1.mp4\n"))
    assert df["animal"].tolist() == ["7"] and df["session"].tolist() == ["7"]
    assert df["roi"].tolist() == [None]


def test_roi_as_four_columns(folder):
    df = read_sessions(_sessions(folder, "session,video,roi_x,roi_y,roi_w,roi_h\n"
                                         "a,videos/m1.mp4,1,2,30,40\nb,videos/m2.mp4,,,,\n"))
    assert df["roi"].tolist() == [(1, 2, 30, 40), None]


@pytest.mark.parametrize("suffix", [".tsv", ".tab", ".parquet"])
def test_tsv_and_parquet_give_the_same_table(folder, suffix):
    expected = read_sessions(_sessions(folder, GOOD))
    raw = read_table(folder / "sessions.csv")
    path = folder / f"sessions{suffix}"
    if suffix == ".parquet":
        raw.to_parquet(path)
    else:
        raw.to_csv(path, sep="\t", index=False)
    pd.testing.assert_frame_equal(read_sessions(path), expected, check_dtype=False)


SESSION_ERRORS = [
    ("session,path\ns1,videos/m1.mp4\n",
     r"sessions\.csv: header \(row 1\): missing column video \(the table has: session, path\)"),
    ("animal,file\nm1,x\n",
     r"header \(row 1\): missing columns session, video \(the table has: animal, file\)"),
    ("session,video\ns1,videos/m1.mp4\ns2,videos/m2.mp4\ns1,videos/m2.mp4\n",
     r"sessions\.csv: row 4: duplicate session 's1' \(first at row 2\)"),
    ("session,video\ns1,videos/m1.mp4\ns2,\n", r"row 3: empty video"),
    ("session,video\n,videos/m1.mp4\n", r"row 2: empty session"),
    ('session,video,roi\ns1,videos/m1.mp4,"1,2,3"\n', r"row 2: malformed roi '1,2,3'"),
    ('session,video,roi\ns1,videos/m1.mp4,"a,b,c,d"\n', r"row 2: malformed roi 'a,b,c,d'"),
    ('session,video,roi\ns1,videos/m1.mp4,"0,0,0,10"\n',
     r"row 2: malformed roi '0,0,0,10': width and height must be positive, got w=0, h=10"),
    ('session,video,roi\ns1,videos/m1.mp4,"0,0,-5,10"\n', r"row 2: .*must be positive"),
    ("session,video,roi_x,roi_y\ns1,videos/m1.mp4,1,2\n", r"missing columns roi_h, roi_w"),
    ("session,video,fps\ns1,videos/m1.mp4,25\ns2,videos/m2.mp4,0\n",
     r"row 3: fps must be a positive number, got 0"),
    ("session,video,fps\ns1,videos/m1.mp4,-3\n", r"row 2: fps must be a positive number"),
    ("session,video,fps\ns1,videos/m1.mp4,fast\n", r"row 2: fps 'fast' is not a number"),
    ("session,video\ns1,videos/m1.mp4\ns2,videos/gone.mp4\n",
     r"row 3: video not found: .*videos/gone\.mp4"),
    ("session,video\ns1,frames\n", r"row 2: video .*frames is a folder of frames: give its fps"),
    ("session,video\n", r"no sessions: the table has a header but no rows"),
]


@pytest.mark.parametrize(("text", "match"), SESSION_ERRORS,
                         ids=[m.split(":")[-1][:40] for _, m in SESSION_ERRORS])
def test_session_errors_name_file_row_and_problem(folder, text, match):
    path = _sessions(folder, text)
    with pytest.raises(InputError, match=match) as e:
        read_sessions(path)
    assert str(e.value).startswith(str(path)) and "\n" not in str(e.value)


@pytest.mark.parametrize(("name", "content", "match"), [
    ("missing.csv", None, r"missing\.csv: file not found"),
    ("sessions.xlsx", "x", r"sessions\.xlsx: unknown table type '\.xlsx': use \.csv, \.tsv"),
    ("empty.csv", "", r"empty\.csv: empty file \(0 bytes\)"),
    ("broken.parquet", "not parquet", r"broken\.parquet: not a readable PARQUET table"),
])
def test_unreadable_tables(folder, name, content, match):
    if content is not None:
        (folder / name).write_text(content)
    with pytest.raises(InputError, match=match):
        read_sessions(folder / name)


def test_validate_sessions_from_a_dataframe(folder):
    df = pd.DataFrame({"session": ["a"], "video": ["videos/m1.mp4"], "animal": ["m1"]})
    out = validate_sessions(df, base_dir=folder)
    assert out["video"][0] == str(folder / "videos" / "m1.mp4")


# --------------------------------------------------------------------------- roi


def test_check_roi():
    assert check_roi(None, (96, 128)) == (0, 0, 128, 96)
    assert check_roi((0, 0, 128, 96), (96, 128)) == (0, 0, 128, 96)
    assert check_roi("10, 20, 30, 40", (96, 128)) == (10, 20, 30, 40)
    assert check_roi(np.array([1, 2, 3, 4]), (96, 128)) == (1, 2, 3, 4)
    with pytest.raises(InputError, match=r"v\.mp4: ROI \(x, y, w, h\) = \(0, 60, 10, 40\) lies "
                                         r"outside the 128x96 frame \(width x height\)"):
        check_roi((0, 60, 10, 40), (96, 128), "v.mp4")
    with pytest.raises(InputError, match=r"bad ROI .*x and y must be 0 or more"):
        check_roi((-1, 0, 10, 10), (96, 128), "v.mp4")


# --------------------------------------------------------------------------- events

EVENTS = """
session,onset,duration,trial_type,intensity
s1,30,2,sucrose,0.5
s1,10,2,sucrose,1.0
s2,12.5,1,tail_shock,high
s1,20,2,quinine,0.2
"""


@pytest.fixture
def sessions(folder) -> pd.DataFrame:
    return read_sessions(_sessions(folder, GOOD))


def test_events_read_with_trial_and_event(folder, sessions):
    ev = read_events(_write(folder / "events.csv", EVENTS), sessions)
    assert list(ev.columns) == ["session", "onset", "duration", "trial_type", "intensity",
                                "trial", "event"]
    assert ev["onset"].dtype == np.float64 and ev["duration"].dtype == np.float64
    assert ev["trial"].tolist() == [1, 0, 0, 0]  # onset order within session and condition
    assert ev["event"].tolist() == [0, 1, 2, 3]  # position in the file
    assert ev["intensity"].tolist() == ["0.5", "1.0", "high", "0.2"]  # carried unchanged


def test_events_parquet_and_tsv_round_trip(folder, sessions):
    ev = read_events(_write(folder / "events.csv", EVENTS), sessions)
    ev.drop(columns=["trial", "event"]).to_parquet(folder / "events.parquet")
    ev.to_csv(folder / "events.tsv", sep="\t", index=False)  # trial/event as computed: accepted
    pd.testing.assert_frame_equal(read_events(folder / "events.parquet", sessions), ev)
    tsv = read_events(folder / "events.tsv", sessions)
    pd.testing.assert_frame_equal(tsv.drop(columns="intensity"), ev.drop(columns="intensity"))


EVENT_ERRORS = [
    ("session,onset,trial_type\ns1,1,a\n",
     r"events\.csv: header \(row 1\): missing column duration \(the table has: session, onset, "
     r"trial_type\)"),
    ("session,onset,duration,trial_type\ns1,1,1,a\ns9,2,1,a\n",
     r"row 3: unknown session 's9' \(the sessions table has: s1, s2, s3\)"),
    ("session,onset,duration,trial_type\ns1,1,-1,a\n", r"row 2: negative duration -1 s"),
    ("session,onset,duration,trial_type\ns1,1,1,a\ns1,soon,1,a\n",
     r"row 3: onset 'soon' is not a number"),
    ("session,onset,duration,trial_type\ns1,,1,a\n", r"row 2: onset is empty"),
    ("session,onset,duration,trial_type\ns1,NaN,1,a\n", r"row 2: onset is empty"),
    ("session,onset,duration,trial_type\ns1,1,1,\n", r"row 2: empty trial_type"),
    ("session,onset,duration,trial_type,trial\ns1,1,1,a,5\n", r"column 'trial' is reserved"),
]


@pytest.mark.parametrize(("text", "match"), EVENT_ERRORS,
                         ids=[m.split(":")[-1][:40] for _, m in EVENT_ERRORS])
def test_event_errors_name_file_row_and_problem(folder, sessions, text, match):
    path = _write(folder / "events.csv", text)
    with pytest.raises(InputError, match=match) as e:
        read_events(path, sessions)
    assert str(e.value).startswith(str(path))


def test_events_without_sessions_accept_any_session(folder):
    ev = read_events(_write(folder / "events.csv", EVENTS))
    assert set(ev["session"]) == {"s1", "s2"}


def test_check_events_within(folder, sessions):
    path = _write(folder / "events.csv", EVENTS)
    ev = read_events(path, sessions)
    check_events_within(ev, "s1", 30.0, path)  # onset 30 s at the last instant: fine
    with pytest.raises(InputError, match=r"events\.csv: row 2: onset 30 s is beyond the end of "
                                         r"session 's1' \(its video lasts 25 s\)"):
        check_events_within(ev, "s1", 25.0, path)
    check_events_within(ev[ev["session"] == "s2"], "s2", 13.0, path)  # the rows of one session


def test_mask_column_kept_and_checked(folder):
    text = """
session,video,animal,mask
s1,videos/m1.mp4,m1,"60,40,20,24; poly:0,0,10,0,0,10"
s2,videos/m2.mp4,m2,
"""
    s = read_sessions(_sessions(folder, text))
    assert s["mask"].tolist() == ["60,40,20,24; poly:0,0,10,0,0,10", None]
    bad = text.replace("60,40,20,24;", "60,40,20;")
    with pytest.raises(InputError, match=r"sessions\.csv: row 2: bad mask: region '60,40,20'"):
        read_sessions(_sessions(folder, bad))
