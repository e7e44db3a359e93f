"""``mouseface.load_results``: the tidy tables of a results folder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from tests.unit.report.video_results import shared_results

import mouseface
from mouseface._errors import InputError


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return shared_results(tmp_path_factory)


def test_load_results_tables_and_prototypes(results):
    res = mouseface.load_results(results)
    assert res.path == results
    frames = pd.read_parquet(results / "frames.parquet")
    assert len(res.frames) == len(frames) == 800
    assert {"session", "animal", "frame", "time", "window", "sim_neutral", "sim_pain",
            "sim_pleasure"} <= set(res.frames.columns)
    assert len(res.trials) == 12 and "score_pain" in res.trials.columns
    assert res.run["command"] == "run" and res.run["settings"]["hog"]["orientations"] == 8
    # prototypes: name -> (models, cells_y, cells_x, orientations), neutral first
    assert res.models == ["mA", "mB"]
    assert res.feature_shape == (4, 5, 8)
    assert list(res.prototypes) == ["neutral", "pain", "pleasure"]
    assert res.prototypes["pain"].shape == (2, 4, 5, 8)
    from mouseface.io.model import load_model

    saved, _ = load_model(results / "model")
    names, protos = saved["mB"]
    np.testing.assert_array_equal(res.prototype("pleasure", model="mB").ravel(),
                                  protos[names.index("pleasure")])
    with pytest.raises(ValueError, match="give model="):
        res.prototype("pain")
    with pytest.raises(KeyError, match="no prototype 'fear'"):
        res.prototype("fear", model="mA")


def test_load_results_without_trials_or_model(results, tmp_path):
    import shutil

    d = tmp_path / "r"
    shutil.copytree(results, d)
    (d / "trials.csv").unlink()
    shutil.rmtree(d / "model")
    res = mouseface.load_results(d)
    assert res.trials.empty and list(res.trials.columns)[:2] == ["session", "onset"]
    assert res.prototypes == {} and res.models == []
    assert res.prototype_names == ["neutral", "pain", "pleasure"]


def test_load_results_bad_folders(tmp_path):
    with pytest.raises(InputError, match="results folder not found"):
        mouseface.load_results(tmp_path / "nope")
    with pytest.raises(InputError, match=r"no frames.parquet"):
        mouseface.load_results(tmp_path)


def test_to_xarray(results):
    res = mouseface.load_results(results)
    try:
        import xarray  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install xarray"):
            res.to_xarray()
        pytest.skip("xarray is not installed (optional)")
    ds = res.to_xarray()
    assert ds["similarity"].dims == ("sample", "prototype")
    assert list(ds["prototype"].values) == ["neutral", "pain", "pleasure"]
    np.testing.assert_array_equal(ds["similarity"].sel(prototype="pain").values,
                                  res.frames["sim_pain"].to_numpy())
    assert ds["score"].dims == ("trial", "prototype")
    np.testing.assert_array_equal(ds["score"].sel(prototype="pleasure").values,
                                  res.trials["score_pleasure"].to_numpy())
    assert ds["prototype_hog"].shape == (2, 3, 4, 5, 8)
    assert ds.attrs["time_unit"] == "s" and json.loads(ds.attrs["run"])["command"] == "run"
