"""Leave one mouse out on the DER tail-shock videos, through `mouseface fit` and `score`.

For each of the three mice: ``fit`` on the other two, ``score`` the third with only its own
baseline frames as its neutral face. The number is the AUC of >= 300 uA against <= 50 uA
trials (12 against 12 per mouse) for the trial score of the 500 uA prototype. Rows compare the
fit modes and the registration (the default is the first row):

- transfer, registered: ``[prototypes] mode = "transfer"``, ``[registration] align = "auto"``
  (translation onto the mean face of the training sessions), ``drift = true``;
- transfer, not registered: ``align = "none"``, ``drift = false``;
- pooled, registered / not registered: the paper's raw-HOG prototypes averaged over the two
  training mice (``mode = "pooled"``).

Usage (from the repository root; about 2 minutes per row on 2 cores)::

    python benchmarks/der_loso.py [DATA] [OUT]

DATA defaults to ../shared/data/real/der_videos, OUT to a temporary folder.
"""

from __future__ import annotations

import runpy
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_auc_score

from mouseface.settings import load_settings
from mouseface.workflows import pipeline

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "real" / "der_videos"
ROWS = {
    "transfer, registered (default)": {},
    "transfer, not registered": {"registration": {"align": "none", "drift": False}},
    "pooled, registered": {"prototypes": {"mode": "pooled"}},
    "pooled, not registered": {"prototypes": {"mode": "pooled"},
                               "registration": {"align": "none", "drift": False}},
}


def loso(tables: Path, out: Path, overrides: dict) -> dict[str, float]:
    sessions = pd.read_csv(tables / "sessions.csv")
    events = pd.read_csv(tables / "events.csv")
    settings = load_settings(tables / "mouseface.toml", **overrides)
    aucs = {}
    for test in sorted(sessions["animal"].unique()):
        d = out / test
        d.mkdir(parents=True)
        for name, part in (("train", sessions[sessions.animal != test]),
                           ("test", sessions[sessions.animal == test])):
            part.to_csv(d / f"{name}.csv", index=False)
            events[events.session.isin(part.session)].to_csv(d / f"{name}_events.csv",
                                                             index=False)
        pipeline.fit(d / "train.csv", d / "train_events.csv", d / "model", settings=settings,
                     quiet=True)
        pipeline.score(d / "model", d / "test.csv", d / "test_events.csv", d / "scored",
                       quiet=True, report=False)
        t = pd.read_csv(d / "scored" / "trials.csv")
        t = t[(t.intensity >= 300) | (t.intensity <= 50)]
        aucs[test] = round(float(roc_auc_score(t.intensity >= 300, t["score_500uA"])), 3)
    return aucs


def main() -> None:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else DATA
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.mkdtemp(prefix="der_loso"))
    make = runpy.run_path(str(REPO / "examples" / "der_videos_tables.py"))["der_tables"]
    make(data, out / "tables")
    rows = {}
    for k, (name, overrides) in enumerate(ROWS.items()):
        t0 = time.perf_counter()
        aucs = loso(out / "tables", out / f"row{k}", overrides)
        aucs["mean"] = round(sum(aucs.values()) / len(aucs), 3)
        rows[name] = aucs
        print(f"{name}: {aucs} ({time.perf_counter() - t0:.0f} s)", flush=True)
    table = pd.DataFrame(rows).T
    print()
    print("| | " + " | ".join(table.columns) + " |")
    print("|---" * (len(table.columns) + 1) + "|")
    for name, r in table.iterrows():
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in r) + " |")


if __name__ == "__main__":
    main()
