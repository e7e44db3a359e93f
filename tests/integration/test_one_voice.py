"""One voice: what the terminal warned about, run.json records and the report lists."""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys

import pandas as pd

# the sliding texture (not a face) with a drift threshold below its 0.1-px steps loses its
# conditions to quality flags: warnings on purpose
CONFIG = ("[hog]\npixels_per_cell = 16\n[prototypes]\nbaseline = 0.5\nn_frames = 3\n"
          "[registration]\nshift_threshold = 0.01\n")


def _mouseface(*args) -> subprocess.CompletedProcess:
    """The command as a user runs it: warnings go to the terminal (stderr), not to pytest."""
    return subprocess.run([sys.executable, "-c", "from mouseface.cli import main; main()",
                           *map(str, args)], capture_output=True, text=True, timeout=300)


def _warnings_of(output: str) -> set[str]:
    return {line.removeprefix("warning: ").strip() for line in output.splitlines()
            if line.startswith("warning: ")}


def test_terminal_run_json_and_report_warn_alike(tmp_path, moving_video):
    folder = tmp_path / "in"
    folder.mkdir()
    pd.DataFrame({"session": ["s0"], "video": [str(moving_video)], "animal": ["m1"]}).to_csv(
        folder / "sessions.csv", index=False)
    pd.DataFrame({"session": "s0", "onset": [0.6, 1.2, 2.0, 2.6], "duration": 0.4,
                  "trial_type": ["a", "b", "a", "b"], "intensity": [1, 2, 3, 4]}).to_csv(
        folder / "events.csv", index=False)
    (folder / "c.toml").write_text(CONFIG)
    out = tmp_path / "out"
    ran = _mouseface("run", folder / "sessions.csv", folder / "events.csv", "--out", out,
                     "--config", folder / "c.toml", "-q", "--no-report")
    assert ran.returncode == 0, ran.stderr
    analysed = _mouseface("classify", out, "--features", "similarity", "-n", "0")
    terminal = _warnings_of(ran.stderr) | {f"analysis: {w}"
                                          for w in _warnings_of(analysed.stderr)}
    assert terminal, "the sliding video should raise warnings"
    assert analysed.returncode == 2 and "no sim_<prototype> columns" in analysed.stderr

    reported = _mouseface("report", out)
    assert reported.returncode == 0, reported.stderr
    recorded = set(json.loads((out / "run.json").read_text())["warnings"])
    page = (out / "report.html").read_text()
    section = page[page.index('<section id="warnings">'):]
    section = section[:section.index("</section>")]
    listed = {html.unescape(re.sub(r"<[^>]+>", "", li)).strip()
              for li in re.findall(r"<li>(.*?)</li>", section, re.S)}
    assert terminal == recorded, (terminal, recorded)
    assert recorded <= listed, (recorded, listed)
