"""mouseface from Python: tables in memory -> scores -> a figure.

A small synthetic experiment (faces with known expressions, made by ``mouseface.synth``) stands
in for a lab's videos; the sessions and events tables are pandas DataFrames, as a notebook
would build them.

    python examples/quickstart.py [OUT_FOLDER]

Writes the synthetic videos, the results folder and ``quickstart.png`` into OUT_FOLDER
(default ``quickstart``) and prints where the figure is.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no window: the figure goes to a file
import matplotlib.pyplot as plt  # noqa: E402

import mouseface  # noqa: E402
from mouseface.synth import simulate_experiment  # noqa: E402


def main(out: Path) -> Path:
    # 1. Data: two animals, each with a pain session and a pleasure session.
    exp = simulate_experiment(out / "data", n_animals=2, conditions=("pain", "pleasure"),
                              n_trials=3, size=(96, 96), seed=1)
    # One row per session (video, animal, face ROI) and one row per stimulus (onset, duration
    # in seconds, trial_type). Video paths in a DataFrame are read from the current folder:
    # make them absolute.
    sessions = exp.sessions.assign(video=[str(exp.out / v) for v in exp.sessions["video"]])
    events = exp.events

    # 2. Run: HOG of every frame, per-animal prototypes, similarity and trial scores. Settings
    # are a dict shaped like the TOML file (small faces: 16-pixel HOG cells).
    res = mouseface.run(sessions, events, out=out / "results",
                        config={"hog": {"pixels_per_cell": 16}}, quiet=True, report=False)

    # 3. Look: the mean similarity to each prototype around the stimuli, per condition.
    frames = res.frames
    fig, axes = plt.subplots(1, 2, figsize=(8, 3), sharey=True)
    for ax, condition in zip(axes, ("pain", "pleasure"), strict=True):
        for prototype in ("pain", "pleasure"):
            trace = (frames[frames["session"].str.endswith(condition)]
                     .assign(t=lambda f: f["time"].round(1))
                     .groupby("t")[f"sim_{prototype}"].mean())
            ax.plot(trace.index, trace.to_numpy(), label=f"sim_{prototype}")
        stimuli = events.loc[events["trial_type"] == condition, ["onset", "duration"]]
        for onset, duration in stimuli.drop_duplicates().itertuples(index=False):
            ax.axvspan(onset, onset + duration, color="0.9", zorder=0)
        ax.set_title(f"{condition} sessions")
        ax.set_xlabel("time (s)")
    axes[0].set_ylabel("Pearson r with prototype")
    axes[0].legend(frameon=False)
    fig.tight_layout()
    png = out / "quickstart.png"
    fig.savefig(png, dpi=100)

    # The trial table: one row per event, a score per prototype (stimulus minus baseline).
    print(res.trials[["session", "trial_type", "score_pain", "score_pleasure"]].round(3))
    return png


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("quickstart")
    print(f"figure: {main(folder)}")
