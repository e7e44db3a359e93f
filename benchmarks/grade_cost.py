"""What the expression-axis grades add to `run`'s scoring, in CPU seconds, on a results folder.

Per animal, from its feature stores: the paper's prototypes and cross-fitted scores
(``fit_and_crossfit``), then the grades (``grade``), then the frame tables without and with the
``grade_`` columns; each twice, the second time reported (the stores' first read warms the file
cache). CPU time, so the figure does not depend on what else the machine runs.

Usage::

    python benchmarks/grade_cost.py RESULTS CONFIG   # e.g. a der_dose.py run and its toml
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mouseface.io.store import FeatureStore
from mouseface.settings import load_settings
from mouseface.workflows import scoring


def main() -> None:
    results, config = Path(sys.argv[1]), Path(sys.argv[2])
    events = pd.read_csv(results / "trials.csv")[
        ["session", "animal", "onset", "duration", "trial_type", "event"]]
    settings = load_settings(config)
    cost = dict.fromkeys(("prototypes and scores", "grades", "frame tables",
                          "frame tables with grades"), 0.0)
    n_frames = 0
    for animal, g in events.groupby("animal"):
        stores = {s: FeatureStore(results / "features" / f"{s}.zarr") for s in g.session}
        n_frames += sum(st.n_frames for st in stores.values())
        for rep in range(2):
            frames = scoring._AnimalFrames(stores, events, settings, None, None)
            spent = {}
            t = time.process_time()
            model, _ = frames.fit_and_crossfit(settings.prototypes.n_frames)
            spent["prototypes and scores"] = time.process_time() - t
            t = time.process_time()
            axis, _ = frames.grade()
            spent["grades"] = time.process_time() - t
            for name, grade in (("frame tables", None), ("frame tables with grades", axis)):
                t = time.process_time()
                for session, st in stores.items():
                    scoring._frame_table(st, session, str(animal), model.transform,
                                         np.full(st.n_frames, ""), model.classes_, grade=grade)
                spent[name] = time.process_time() - t
            if rep == 1:
                for k, v in spent.items():
                    cost[k] += v
    print(f"{n_frames} frames, CPU seconds:")
    for k, v in cost.items():
        print(f"  {k}: {v:.2f}")
    added = cost["grades"] + cost["frame tables with grades"] - cost["frame tables"]
    print(f"  the grades add {added:.2f} s")


if __name__ == "__main__":
    main()
