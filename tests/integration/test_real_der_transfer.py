"""Real data: prototypes that carry over to a new mouse (der_videos, issue 8's acceptance).

Leave one mouse out through the commands: ``mouseface fit`` (transfer mode, the default) on two
mice, ``mouseface score`` on the third with only its own baseline frames as its neutral face.
The 500 uA trial score tells strong shocks (>= 300 uA) from weak ones (<= 50 uA) with AUC >= 0.85
on average over the three rotations.
"""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from mouseface.cli import app

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_leave_one_mouse_out_transfer_auc(der_tables, tmp_path):
    sessions_path, events_path, config = der_tables
    sessions, events = pd.read_csv(sessions_path), pd.read_csv(events_path)
    runner = CliRunner()
    aucs = {}
    for test in sorted(sessions["animal"].unique()):
        d = tmp_path / test
        d.mkdir()
        for name, part in (("train", sessions[sessions.animal != test]),
                           ("test", sessions[sessions.animal == test])):
            part.to_csv(d / f"{name}.csv", index=False)
            events[events.session.isin(part.session)].to_csv(d / f"{name}_events.csv",
                                                             index=False)
        r = runner.invoke(app, ["fit", str(d / "train.csv"), str(d / "train_events.csv"),
                                "-o", str(d / "model"), "-c", str(config), "-q"])
        assert r.exit_code == 0, r.output
        r = runner.invoke(app, ["score", str(d / "model"), str(d / "test.csv"),
                                str(d / "test_events.csv"), "-o", str(d / "scored"), "-q",
                                "--no-report"])
        assert r.exit_code == 0, r.output
        model = json.loads((d / "model" / "model" / "model.json").read_text())
        assert model["mode"] == "transfer" and model["animals"] == sorted(
            set(sessions.animal) - {test})
        t = pd.read_csv(d / "scored" / "trials.csv")
        assert len(t) == 30 and t["score_500uA"].notna().all()
        t = t[(t.intensity >= 300) | (t.intensity <= 50)]
        aucs[test] = roc_auc_score(t.intensity >= 300, t["score_500uA"])
    print("leave-one-mouse-out transfer AUC (>=300 vs <=50 uA):",
          {k: round(v, 3) for k, v in aucs.items()})
    assert np.mean(list(aucs.values())) >= 0.85
