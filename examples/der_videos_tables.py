"""Write mouseface sessions and events tables for the DER trial mosaics.

Each der_videos file is a mosaic of 5 x 6 tiles (rows: shock intensity 0, 50, 150, 300, 500 uA;
columns: repetitions), each the same 5-s window (20 fps) around one trial, with the shock at
frame 41. One session per tile: the same video, the tile's head ROI (80 x 64 px at tile pixels
x 8-88, y 25-89, clear of the burned-in label in the top-right corner), one event per session.

Usage::

    python examples/der_videos_tables.py ../shared/data/real/der_videos der_tables/
    mouseface run der_tables/sessions.csv der_tables/events.csv --out der_results \
        --config der_tables/mouseface.toml
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

MOSAIC_W, MOSAIC_H, ROWS, COLS = 1400, 700, 5, 6
HEAD = (8, 25, 80, 64)  # x, y, w, h inside a tile
FPS, ONSET_FRAME, DURATION = 20.0, 41, 2.0
CONFIG = """[hog]
pixels_per_cell = 8

[prototypes]
baseline = 2.0
n_frames = 10

[quality]
# A tail shock makes the whole body startle: the occlusion test flags exactly the frames that
# carry the response. Keep the flags in frames.parquet but let those frames build prototypes.
exclude_flagged = false
"""


def der_tables(data: Path, out: Path) -> tuple[Path, Path]:
    """Write ``sessions.csv``, ``events.csv`` and ``mouseface.toml`` for the mosaics in ``data``."""
    data, out = Path(data).resolve(), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    layout = pd.read_csv(data / "mosaic_layout.csv")
    sessions, events = [], []
    for video in sorted(data.glob("*-der.mp4")):
        mouse = video.stem.split("-ECO_")[1].removesuffix("-der")
        for tile in layout.itertuples(index=False):
            x = round(tile.col * MOSAIC_W / COLS) + HEAD[0]
            y = round(tile.row * MOSAIC_H / ROWS) + HEAD[1]
            session = f"{mouse}_trial{tile.trial_index:02d}"
            sessions.append({"session": session, "video": str(video), "animal": mouse,
                             "roi": f"{x},{y},{HEAD[2]},{HEAD[3]}", "fps": FPS})
            events.append({"session": session, "onset": ONSET_FRAME / FPS,
                           "duration": DURATION, "trial_type": f"{tile.shock_uA}uA",
                           "intensity": tile.shock_uA, "repetition": tile.col + 1,
                           "trial_index": tile.trial_index})
    pd.DataFrame(sessions).to_csv(out / "sessions.csv", index=False)
    pd.DataFrame(events).to_csv(out / "events.csv", index=False)
    (out / "mouseface.toml").write_text(CONFIG)
    return out / "sessions.csv", out / "events.csv"


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    for p in der_tables(Path(sys.argv[1]), Path(sys.argv[2])):
        print(p)
