"""Are two ``mouseface demo`` folders the same? For a change that must not move the results.

Compares ``results/frames.parquet`` and ``results/trials.csv`` column by column (equal, NaN
where NaN), the videos byte by byte, every PNG of ``results/`` and ``states.png`` pixel by
pixel, and the images embedded in the two ``report.html`` files; prints one line each and
exits 1 if anything differs.

    python benchmarks/demo_same.py /tmp/demo_before /tmp/demo_after
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image


def _table(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a", type=Path, help="a demo's folder (--out)")
    p.add_argument("b", type=Path, help="the other demo's folder")
    args = p.parse_args()
    a, b = args.a, args.b
    same = True
    for name in ("frames.parquet", "trials.csv"):
        ta, tb = _table(a / "results" / name), _table(b / "results" / name)
        cols = [c for c in ta.columns if c in tb.columns]
        differ = [c for c in cols if not ta[c].equals(tb[c])]
        ok = ta.shape == tb.shape and list(ta.columns) == list(tb.columns) and not differ
        same &= ok
        print(f"{name}: {ta.shape} vs {tb.shape}, columns differing: {differ or 'none'}"
              + ("" if list(ta.columns) == list(tb.columns) else " (other columns)"))
    videos = sorted((a / "data" / "videos").glob("*.mp4"))
    bad = [v.name for v in videos if hashlib.sha256(v.read_bytes()).digest()
           != hashlib.sha256((b / "data" / "videos" / v.name).read_bytes()).digest()]
    same &= not bad and bool(videos)
    print(f"videos: {len(videos)}, differing bytes: {bad or 'none'}")
    pngs = [*sorted((a / "results").rglob("*.png")), a / "states.png"]
    bad = []
    for png in pngs:
        other = b / png.relative_to(a)
        pa = np.asarray(Image.open(png))
        pb = np.asarray(Image.open(other)) if other.is_file() else None
        if pb is None or pa.shape != pb.shape or not np.array_equal(pa, pb):
            bad.append(str(png.relative_to(a)))
    same &= not bad
    print(f"PNGs: {len(pngs)}, differing pixels: {bad or 'none'}")
    embedded = [re.findall(r'src="(data:[^"]+)"', (d / "results" / "report.html").read_text())
                for d in (a, b)]
    n_same = sum(x == y for x, y in zip(*embedded, strict=False))
    ok = len(embedded[0]) == len(embedded[1]) == n_same
    same &= ok
    print(f"report images: {len(embedded[0])} vs {len(embedded[1])}, {n_same} identical")
    print("same" if same else "DIFFERENT")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
