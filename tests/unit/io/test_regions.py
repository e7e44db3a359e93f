"""Writing the face ROI and the mask into a sessions table (mouseface.io.regions)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mouseface._errors import InputError
from mouseface.io.regions import write_regions
from mouseface.io.tables import read_sessions

# the fixture video is 128 x 96 (width x height)
CSV = """session,video,animal,roi,fps,notes,intensity
m1_s1,{v},m1,"0,0,128,96",20,"first, with comma",0.50
m1_s2,{v},m1,,20,,1
m2_s1,{w},m2,"10,10,50,40",20.0,keep me,
"""


@pytest.fixture
def table(tmp_path, moving_video) -> Path:
    other = tmp_path / "other.mp4"
    other.write_bytes(moving_video.read_bytes())
    path = tmp_path / "sessions.csv"
    path.write_text(CSV.format(v=moving_video, w=other.name))
    return path


def _cells(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_one_session_changes_only_its_roi_and_mask_cells(table):
    before = _cells(table)
    done = write_regions(table, roi=(20, 10, 64, 48), mask="40,30,24,18; poly:0,0,10,0,0,10",
                         session="m1_s2")
    assert done == ["m1_s2"]
    after = _cells(table)
    assert list(after.columns) == list(before.columns) + ["mask"]
    assert after.loc[1, "roi"] == "20,10,64,48"
    assert after.loc[1, "mask"] == "40,30,24,18; poly:0,0,10,0,0,10"
    # every other cell keeps its text, numbers included ("20" stays "20", "0.50" stays "0.50")
    pd.testing.assert_frame_equal(after.drop(index=1)[before.columns], before.drop(index=1))
    assert after.loc[1, ["session", "video", "animal", "fps", "notes", "intensity"]].tolist() \
        == before.loc[1, ["session", "video", "animal", "fps", "notes", "intensity"]].tolist()
    assert (after.drop(index=1)["mask"] == "").all()
    # and `run` reads it
    s = read_sessions(table)
    assert s.loc[1, "roi"] == (20, 10, 64, 48)
    assert s.loc[1, "mask"] == "40,30,24,18; poly:0,0,10,0,0,10"


def test_animal_and_video_scopes(table, moving_video):
    assert write_regions(table, roi=(1, 2, 30, 20), animal="m1") == ["m1_s1", "m1_s2"]
    assert _cells(table)["roi"].tolist() == ["1,2,30,20", "1,2,30,20", "10,10,50,40"]
    # the video as the user names it, relative to where they are, matches the table's path
    assert write_regions(table, mask="0,0,4,4", video=moving_video) == ["m1_s1", "m1_s2"]
    assert _cells(table)["mask"].tolist() == ["0,0,4,4", "0,0,4,4", ""]
    assert write_regions(table, roi="3,3,20,20", video=table.parent / "other.mp4") == ["m2_s1"]
    # an empty mask clears it
    write_regions(table, mask="", session="m1_s1")
    assert _cells(table)["mask"].tolist() == ["", "0,0,4,4", ""]


@pytest.mark.parametrize("kwargs, match", [
    ({"roi": (100, 10, 64, 48), "session": "m1_s1"},
     r"row 2 \(session 'm1_s1'\): ROI .*lies outside the 128x96 frame"),
    ({"roi": (0, 0, 64, 48), "session": "nope"}, r"no session of session 'nope'"),
    ({"roi": (0, 0, 64, 48), "animal": "m9"}, r"no session of animal 'm9'"),
    ({"roi": "1,2,3", "session": "m1_s1"}, r"bad ROI '1,2,3': expected four integers"),
    ({"mask": "1,2,3", "session": "m1_s1"}, r"bad mask: region '1,2,3'"),
    ({"roi": (0, 0, 20, 20), "mask": "30,30,5,5", "session": "m1_s1"},
     r"mask region \(30, 30\)-\(35, 35\) lies outside the 20x20 crop"),
])
def test_bad_input_is_one_line_and_leaves_the_table_untouched(table, kwargs, match):
    before = table.read_bytes()
    with pytest.raises(InputError, match=match) as err:
        write_regions(table, **kwargs)
    assert "\n" not in str(err.value) and str(err.value).startswith(str(table))
    assert table.read_bytes() == before
    assert not [p for p in table.parent.iterdir() if ".tmp" in p.name]


def test_a_table_that_run_would_refuse_is_not_written(tmp_path, moving_video):
    path = tmp_path / "s.csv"
    path.write_text(f"session,video\na,{moving_video}\na,{moving_video}\n")
    before = path.read_bytes()
    with pytest.raises(InputError, match="duplicate session 'a'"):
        write_regions(path, roi=(0, 0, 8, 8), session="a")
    assert path.read_bytes() == before


def test_roi_columns_tsv_and_parquet_keep_their_form(tmp_path, moving_video):
    df = pd.DataFrame({"session": ["a", "b"], "video": [str(moving_video)] * 2,
                       "roi_x": [0, 5], "roi_y": [0, 5], "roi_w": [128, 40],
                       "roi_h": [96, 30], "fps": [20.0, 20.0]})
    tsv = tmp_path / "s.tsv"
    df.to_csv(tsv, sep="\t", index=False)
    write_regions(tsv, roi=(8, 6, 32, 24), session="b")
    got = pd.read_csv(tsv, sep="\t")
    assert got.loc[1, ["roi_x", "roi_y", "roi_w", "roi_h"]].tolist() == [8, 6, 32, 24]
    assert got.loc[0, ["roi_x", "roi_y", "roi_w", "roi_h"]].tolist() == [0, 0, 128, 96]
    assert "roi" not in got.columns

    pq = tmp_path / "s.parquet"
    df.to_parquet(pq, index=False)
    write_regions(pq, roi=(8, 6, 32, 24), mask="0,0,4,4", session="a")
    got = pd.read_parquet(pq)
    assert got["roi_w"].tolist() == [32, 40] and got["fps"].dtype == "float64"
    assert got["mask"].iloc[0] == "0,0,4,4" and pd.isna(got["mask"].iloc[1])
    assert read_sessions(pq)["roi"].tolist() == [(8, 6, 32, 24), (5, 5, 40, 30)]
