"""Movement regions (roi_<region> columns) and running-speed tables: read, checked, one line
per problem naming the file, the row and the region."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mouseface._errors import InputError
from mouseface.io.tables import (
    check_overlap,
    check_region,
    read_sessions,
    read_speed,
    region_names,
)


@pytest.fixture
def folder(tmp_path) -> Path:
    (tmp_path / "m1.mp4").write_bytes(b"x")
    (tmp_path / "m2.mp4").write_bytes(b"x")
    return tmp_path


def _table(folder: Path, text: str) -> Path:
    path = folder / "sessions.csv"
    path.write_text(text.lstrip())
    return path


def test_regions_are_parsed_like_the_roi(folder):
    path = _table(folder, """
session,video,animal,roi,roi_body,roi_wheel
s1,m1.mp4,a,"0,0,160,160","0,160,96,32","24, 194, 112, 14"
s2,m2.mp4,a,"0,0,160,160",,
""")
    df = read_sessions(path)
    assert region_names(df) == ["body", "wheel"]
    assert df["roi_body"].tolist() == [(0, 160, 96, 32), None]
    assert df["roi_wheel"].tolist() == [(24, 194, 112, 14), None]
    assert check_region(df, 0, "body", (208, 160), path) == (0, 160, 96, 32)
    assert check_region(df, 1, "body", (160, 160), path) is None
    assert check_region(df, 0, "tail", (208, 160), path) is None


def test_the_four_column_face_roi_is_not_a_region(folder):
    path = _table(folder, """
session,video,roi_x,roi_y,roi_w,roi_h,roi_body
s1,m1.mp4,0,0,50,40,"0,40,50,10"
""")
    df = read_sessions(path)
    assert df["roi"].tolist() == [(0, 0, 50, 40)]
    assert region_names(df) == ["body"]


@pytest.mark.parametrize("cell, problem", [("1,2,3", "four integers"), ("0,0,-5,4", "positive"),
                                           ("a,b,c,d", "four integers")])
def test_a_malformed_region_names_table_row_and_region(folder, cell, problem):
    path = _table(folder, f"""
session,video,roi_body
s1,m1.mp4,"0,0,4,4"
s2,m2.mp4,"{cell}"
""")
    with pytest.raises(InputError, match=problem) as err:
        read_sessions(path)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: row 3: malformed roi_body") and "region 'body'" in msg


def test_a_bad_region_name_is_an_error(folder):
    path = _table(folder, """
session,video,roi_body-cam
s1,m1.mp4,"0,0,4,4"
""")
    with pytest.raises(InputError, match="roi_body-cam.*letters, digits or _"):
        read_sessions(path)


def test_a_region_outside_the_frame_names_row_region_and_video(folder):
    path = _table(folder, """
session,video,roi_body
s1,m1.mp4,"0,0,4,4"
s2,m2.mp4,"0,150,96,32"
""")
    df = read_sessions(path)
    assert check_region(df, 0, "body", (160, 160), path) == (0, 0, 4, 4)
    with pytest.raises(InputError) as err:
        check_region(df, 1, "body", (160, 160), path)
    assert str(err.value) == (f"{path}: row 3: roi_body (x, y, w, h) = (0, 150, 96, 32) lies "
                              "outside the 160x160 frame (width x height) of m2.mp4")


def test_a_speed_table_named_in_the_sessions_table_must_exist(folder):
    (folder / "wheel.csv").write_text("time,speed\n0,1\n1,2\n")
    path = _table(folder, """
session,video,speed
s1,m1.mp4,wheel.csv
s2,m2.mp4,missing.csv
""")
    with pytest.raises(InputError, match=r"row 3: speed table not found: .*missing.csv"):
        read_sessions(path)
    path = _table(folder, "session,video,speed\ns1,m1.mp4,wheel.csv\ns2,m2.mp4,\n")
    assert read_sessions(path)["speed"].tolist() == [str(folder / "wheel.csv"), None]


def test_read_speed_takes_time_and_one_value_column(tmp_path):
    p = tmp_path / "enc.tsv"
    p.write_text("time\tcm_per_s\n0.0\t1.5\n0.1\t\n0.2\t-3\n")
    df = read_speed(p)
    assert df["time"].tolist() == [0.0, 0.1, 0.2]
    np.testing.assert_array_equal(df["speed"], [1.5, np.nan, -3.0])
    assert df.attrs["column"] == "cm_per_s"
    p = tmp_path / "two.csv"
    p.write_text("time,speed,lick\n0,1,0\n1,2,1\n")
    assert read_speed(p)["speed"].tolist() == [1.0, 2.0]


@pytest.mark.parametrize("text, problem", [
    ("t,speed\n0,1\n1,2\n", "missing column time"),
    ("time,a,b\n0,1,2\n1,2,3\n", "expected time and one value column"),
    ("time,speed\n0,1\n", "at least 2 rows"),
    ("time,speed\n0,1\n2,1\n1,1\n", "row 4: time 1 s does not increase"),
    ("time,speed\n0,1\nx,1\n", "row 3: time 'x' is not a number"),
])
def test_read_speed_rejects_bad_tables(tmp_path, text, problem):
    p = tmp_path / "speed.csv"
    p.write_text(text)
    with pytest.raises(InputError, match=problem) as err:
        read_speed(p)
    assert str(err.value).startswith(str(p)) and "\n" not in str(err.value)


def test_check_overlap_gives_the_covered_fraction_or_one_line():
    assert check_overlap(np.array([5.0, 15.0]), 0.0, 10.0) == pytest.approx(0.5)
    with pytest.raises(InputError) as err:
        check_overlap(np.array([100.0, 200.0]), 0.0, 60.0, "wheel.csv",
                      "the video of session 's1'")
    assert str(err.value) == ("wheel.csv: covers 100-200 s but the video of session 's1' runs "
                              "0-60 s: they do not overlap (time must be seconds on the video "
                              "clock, 0 = its first frame)")
