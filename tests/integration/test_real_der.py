"""Real data: graded tail shocks in three head-fixed mice (der_videos, MIT licence).

Acceptance of the core pipeline: with the cross-fitted score of the 500 uA prototype, strong
shocks (>= 300 uA) are told from weak ones (<= 50 uA) with AUC >= 0.85 on average over the mice.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def _mouse(trials: pd.DataFrame) -> pd.Series:
    return trials["session"].str.rsplit("_trial", n=1).str[0]


def test_strong_vs_weak_shocks_auc(der_results):
    trials = pd.read_csv(der_results / "trials.csv")
    aucs = {}
    for mouse, t in trials.groupby(_mouse(trials)):
        t = t[(t.intensity >= 300) | (t.intensity <= 50)]
        aucs[mouse] = roc_auc_score(t.intensity >= 300, t["score_500uA"])
    print("AUC per mouse (score_500uA, >=300 vs <=50 uA):", aucs)
    assert len(aucs) == 3
    assert np.mean(list(aucs.values())) >= 0.85


def test_every_tile_scored_and_no_label_leak(der_results, der_tables):
    trials = pd.read_csv(der_results / "trials.csv")
    frames = pd.read_parquet(der_results / "frames.parquet")
    assert len(trials) == 90 and trials.filter(like="score_").notna().all().all()
    assert frames.groupby("session").size().eq(100).all()  # 5 s at 20 fps per tile
    # The head ROI stays in the left half of its tile, clear of the burned-in label that sits in
    # the top-right corner and turns colour at onset.
    sessions = pd.read_csv(der_tables[0])
    roi = sessions["roi"].str.split(",", expand=True).astype(int)
    tile_w, tile_h = 1400 / 6, 700 / 5
    tile_x = (roi[0] // tile_w) * tile_w  # the tile each ROI starts in, from the mosaic grid
    tile_y = (roi[1] // tile_h) * tile_h
    assert ((roi[0] + roi[2]) <= tile_x + tile_w / 2).all()  # left half: clear of the label
    assert ((roi[1] + roi[3]) <= tile_y + tile_h).all()  # inside its own tile
    assert sessions.groupby("animal").size().eq(30).all()
