"""`mouseface live` end to end on synthetic faces with known expressions.

- one code path: replaying a session gives `score`'s similarities (to 1e-6) and expression-axis
  grades (to float32 precision) when `score`'s baseline window is the calibration; the Python
  API gives the command's;
- a real LSL inlet on this machine receives every streamed frame, in order, with its timestamp;
  the trigger fires on the truth's strong pain responses and never on a neutral animal;
- a source slower than the loop loses nothing; a loop slower than the source skips, counts and
  stays current (counted events and a clock the test advances: no test here depends on the
  machine's speed);
- bad input (a stream that ends or stalls, a crop the model does not fit) is one line, and the
  record keeps what was streamed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.fixtures.live import (
    BASELINE_S,
    CALIBRATE,
    ITI_S,
    STIMULUS_S,
    FakeClock,
    SteppedSource,
    read_to_end,
)
from tests.helpers import one_line_error
from typer.testing import CliRunner

from mouseface._errors import InputError
from mouseface.io.video import open_video, write_video
from mouseface.live import LiveReadout, Trigger, open_source, run_live

assert CALIBRATE <= BASELINE_S  # calibration frames are quiet: before the first stimulus

PAIN = "m04_pain"  # an animal the model never saw
THRESHOLD = 0.3
runner = CliRunner()


def _frames(video: Path) -> tuple[np.ndarray, np.ndarray]:
    with open_video(video) as r:
        c = next(r.iter_chunks(chunk_size=100_000))
    return c.frames, c.time


def _receive(name: str, results: dict, stop: threading.Event) -> None:
    """Resolve the expression and marker streams on this machine and pull them to the end
    marker (``stop``: the session is over)."""
    import pylsl

    def inlet(stream):
        found = pylsl.resolve_byprop("name", stream, timeout=10.0)
        i = pylsl.StreamInlet(found[0], max_buflen=60)
        i.open_stream(timeout=10.0)
        return i

    markers = inlet(f"{name}-markers")  # first, so no marker is sent before it listens
    samples = inlet(name)
    # as a consumer should: to the end marker and the last sample, then close (a quiet end)
    rows, stamps, marks = read_to_end(samples, markers, timeout=300)
    results.update(rows=np.array(rows), stamps=np.array(stamps), markers=marks)


def _live_with_inlet(readout, video, tmp, **kw):
    """run_live on a video (fast replay) while a real inlet receives the streams."""
    name = f"mf-test-{uuid.uuid4().hex[:8]}"
    received: dict = {}
    stop = threading.Event()
    t = threading.Thread(target=_receive, args=(name, received, stop), daemon=True)
    t.start()
    summary = run_live(readout, open_source(video), lsl=name, record=tmp, session=PAIN,
                       wait_for_consumers=20.0, **kw)
    stop.set()
    t.join(30)
    return summary, received


@pytest.fixture(scope="module")
def pain_run(live_experiment, tmp_path_factory):
    """The new animal's pain session replayed through live with a trigger and an LSL inlet."""
    rec = tmp_path_factory.mktemp("live_pain") / "record"
    trigger = Trigger("pain", THRESHOLD, frames=3, refractory=4.0)
    summary, received = _live_with_inlet(LiveReadout(live_experiment.model),
                                         live_experiment.video(PAIN), rec,
                                         calibrate=CALIBRATE, triggers=[trigger])
    return summary, received, rec, pd.read_parquet(rec / "frames.parquet")


@pytest.fixture(scope="module")
def scored(live_experiment, tmp_path_factory):
    """`score` of the same session, its baseline window exactly the calibration frames."""
    return _score(live_experiment.model, live_experiment, tmp_path_factory.mktemp("scored"))


def _score(model, e, folder):
    from mouseface.workflows import pipeline

    sessions = folder / "sessions.csv"
    pd.DataFrame({"session": [PAIN], "video": [str(e.video(PAIN))], "animal": ["m04"]}
                 ).to_csv(sessions, index=False)
    events = folder / "events.csv"  # one onset right after calibration: baseline = [0, 2 s)
    pd.DataFrame({"session": [PAIN], "onset": [CALIBRATE], "duration": [1.0],
                  "trial_type": ["pain"]}).to_csv(events, index=False)
    pipeline.score(model, sessions, events, folder / "out", quiet=True, report=False)
    return pd.read_parquet(folder / "out" / "frames.parquet")


def _assert_parity(live: pd.DataFrame, offline: pd.DataFrame):
    m = offline.merge(live, on="frame", suffixes=("_off", "_live"), validate="one_to_one")
    assert len(m) == len(offline) == len(live)
    base = m["time_off"] < CALIBRATE
    assert base.sum() == CALIBRATE * 20
    # both paths kept every calibration frame in the neutral face
    assert not m.loc[base, "flag_off"].any() and not m.loc[base, "flag_live"].any()
    sims = sorted(c for c in offline.columns if c.startswith("sim_"))
    assert len(sims) == 2
    for c in sims:
        d = np.abs(m[f"{c}_off"].to_numpy(np.float64) - m[f"{c}_live"].to_numpy(np.float64))
        assert d.max() <= 1e-6, (c, d.max())
    grades = sorted(c for c in offline.columns if c.startswith("grade_"))
    assert grades and grades == sorted(c for c in live.columns if c.startswith("grade_"))
    for c in grades:  # the same axes, neutral face and unit: the calibration frames
        off, on = (m[f"{c}_{k}"].to_numpy(np.float64) for k in ("off", "live"))
        assert np.ptp(off[~base]) > 1.0  # the grade moves with the face, not a constant
        np.testing.assert_allclose(on, off, rtol=1e-5, atol=1e-5)
    if "shift_y" in offline.columns:
        np.testing.assert_array_equal(m["shift_y_off"], m["shift_y_live"])
    np.testing.assert_array_equal(m["time_off"], m["time_live"])
    return m


# ------------------------------------------------------------------ one code path


def test_replay_gives_score_similarities(pain_run, scored, live_experiment):
    _, _, rec, live = pain_run
    meta = json.loads((live_experiment.model / "model" / "model.json").read_text())
    assert meta["mode"] == "transfer" and meta["mask_regions"]  # masks and transfer covered
    m = _assert_parity(live, scored)
    assert m["shift_live"].max() > 0.1  # drift was measured and undone
    assert set(scored.columns) <= set(live.columns)  # score's columns, grades included
    assert (live.loc[live["time"] < CALIBRATE, "window"] == "neutral").all()


@pytest.mark.parametrize("registered", [True, False], ids=["registered", "unregistered"])
def test_a_pooled_model_replays_like_score(live_experiment, tmp_path, registered):
    """Pooled prototypes take the calibration's mean HOG as neutral, as `score` takes the
    baseline's: a pooled copy of the model (raw-HOG prototypes) replays like `score`, with its
    template and drift correction, and without (the mask then filled in the bare crop)."""
    model = tmp_path / "pooled"
    shutil.copytree(live_experiment.model / "model", model)
    meta = json.loads((model / "model.json").read_text())
    names = meta["names"]["transfer"]
    z = np.load(model / "prototypes.npz")["transfer"]
    rng = np.random.default_rng(0)
    protos = z[0] + np.abs(rng.normal(0, 0.02, z.shape)) * (np.arange(len(z))[:, None] > 0)
    np.savez(model / "prototypes.npz", pooled=protos)  # NaN (masked) entries stay NaN
    meta.update(mode="pooled", names={"pooled": names})
    if not registered:
        (model / "template.npy").unlink()
        meta["settings"]["registration"].update(align="none", drift=False)
    (model / "model.json").write_text(json.dumps(meta))
    offline = _score(model, live_experiment, tmp_path)
    run_live(LiveReadout(model), open_source(live_experiment.video(PAIN)),
             calibrate=CALIBRATE, lsl=None, record=tmp_path / "rec")
    live = pd.read_parquet(tmp_path / "rec" / "frames.parquet")
    assert ("shift_y" in live.columns) == registered
    _assert_parity(live, offline)


def test_the_python_api_gives_what_the_command_streamed(pain_run, live_experiment):
    _, _, _, live = pain_run
    frames, times = _frames(live_experiment.video(PAIN))
    cal = times < CALIBRATE
    readout = LiveReadout(live_experiment.model).calibrate(frames[cal], times[cal])
    readings = [readout.update(f, t) for f, t in zip(frames[~cal], times[~cal], strict=True)]
    sims = np.array([r.similarity for r in readings])
    streamed = live[live["window"] == ""]
    for j, name in enumerate(readout.names_):
        np.testing.assert_array_equal(sims[:, j].astype(np.float32), streamed[f"sim_{name}"])
    assert readout.grade_names_ == ("pain",)
    np.testing.assert_array_equal([np.float32(r.grade("pain")) for r in readings],
                                  streamed["grade_pain"])


# ------------------------------------------------------------------ LSL


def test_a_real_inlet_receives_every_frame_in_order_with_its_timestamp(pain_run):
    summary, got, _, live = pain_run
    streamed = live[live["window"] == ""]
    assert summary.skipped == 0 and summary.processed == len(streamed) > 0
    rows = got["rows"]
    assert len(rows) == len(streamed)
    np.testing.assert_array_equal(rows[:, -1], streamed["frame"])  # every frame, in order
    np.testing.assert_array_equal(got["stamps"], streamed["lsl_time"])  # its capture time
    assert np.all(np.diff(got["stamps"]) > 0)
    for j, name in enumerate(summary.names):
        np.testing.assert_array_equal(rows[:, j].astype(np.float32), streamed[f"sim_{name}"])
    for j, name in enumerate(summary.grades):  # the grade channels follow the prototypes'
        np.testing.assert_array_equal(rows[:, len(summary.names) + j].astype(np.float32),
                                      streamed[f"grade_{name}"])
    assert summary.grades == ("pain",)
    np.testing.assert_array_equal(rows[:, -3], streamed["flag"])
    # capture times keep the video's own spacing
    np.testing.assert_allclose(np.diff(got["stamps"]), np.diff(streamed["time"]), atol=1e-6)


def test_the_trigger_fires_on_the_truths_strong_pain_responses(pain_run, live_experiment):
    summary, got, _, live = pain_run
    marks = got["markers"]
    assert marks[0][0] == "calibrated"
    fired = [t for m, t in marks if m == "trigger:pain"]
    assert [m["lsl_time"] for m in summary.markers if m["marker"] == "trigger:pain"] == fired
    truth = live_experiment.truth.query("session == @PAIN").set_index("frame")
    at = live.set_index("lsl_time").loc[fired, "frame"]
    assert (truth.loc[at, "intensity"] > 0.5).all()  # only where the face shows pain
    events = live_experiment.events.query("session == @PAIN")
    hits = []
    for onset in events["onset"]:
        window = truth[(truth["time"] >= onset) & (truth["time"] < onset + STIMULUS_S + ITI_S)]
        peak = window["intensity"].max()
        n = int(((window.index.min() <= at) & (at <= window.index.max())).sum())
        hits.append((peak, n))
    strong = [n for peak, n in hits if peak >= 0.85]
    assert len(strong) >= 2 and all(n == 1 for n in strong), hits
    assert any(peak < 0.85 for peak, _ in hits)  # the session also has a weak trial


def test_no_trigger_on_a_neutral_animal(live_experiment, tmp_path):
    summary, got = _live_with_inlet(LiveReadout(live_experiment.model),
                                    live_experiment.neutral_video, tmp_path / "rec",
                                    calibrate=CALIBRATE,
                                    triggers=[Trigger("pain", THRESHOLD, frames=3)])
    assert live_experiment.neutral_truth["intensity"].max() == 0
    assert [m for m, _ in got["markers"]] == ["calibrated", "end"]
    assert summary.processed == len(got["rows"]) > 100


def test_lsl_traffic_stays_on_the_loopback_interface(live_experiment, tmp_path):
    """The streams, discovery and an inlet, traced: every address a packet is sent to is
    127.0.0.1 (machine scope from LSLAPICFG)."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed (apt-get install strace)")
    # a clip, not a duration: the session streams its 20 frames after calibration however
    # slowly the traced process runs
    frames, times = _frames(live_experiment.neutral_video)
    clip = write_video(tmp_path / "clip.mp4", frames[times < CALIBRATE + 1.0], 20.0)
    script = tmp_path / "lsl_session.py"
    script.write_text(f"""
import sys, threading
sys.path[:0] = {[str(Path(__file__).resolve().parents[2]), *sys.path]!r}
from tests.integration.test_live import _live_with_inlet
from mouseface.live import LiveReadout
s, got = _live_with_inlet(LiveReadout({str(live_experiment.model)!r}),
                          {str(clip)!r}, {str(tmp_path / 'rec')!r}, calibrate={CALIBRATE})
assert len(got["rows"]) == s.processed == 20, (len(got["rows"]), s.processed)
""")
    trace = tmp_path / "trace.txt"
    proc = subprocess.run(["strace", "-f", "-qq", "-e", "trace=connect,sendto,sendmsg,sendmmsg",
                           "-o", str(trace), sys.executable, str(script)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")})
    if proc.returncode != 0 and "ptrace" in proc.stderr:
        pytest.skip(f"strace cannot trace here: {proc.stderr.strip()[:200]}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    import re

    text = trace.read_text()
    v4 = re.findall(r'inet_addr\("([0-9.]+)"\)', text)
    v6 = re.findall(r'inet_pton\(AF_INET6, "([0-9a-fA-F:.]+)"', text)
    assert v4, "no traced packet: the check saw nothing"
    assert all(a.startswith("127.") for a in v4), sorted(set(v4))
    assert all(a in ("::1", "::ffff:127.0.0.1") for a in v6), sorted(set(v6))


# ------------------------------------------------------------------ never behind


@pytest.fixture(scope="module")
def reference_file(pain_run):
    """The pain session's calibration, as its record saved it (a later session's reference)."""
    return pain_run[2] / "calibration.npz"


@pytest.fixture(scope="module")
def fast_clip(live_experiment, tmp_path_factory):
    """The pain session's frames after calibration, encoded at 100 frames/s (1 s)."""
    frames, times = _frames(live_experiment.video(PAIN))
    out = tmp_path_factory.mktemp("clips")
    return write_video(out / "clip100.mp4", frames[times >= CALIBRATE][:100], 100.0)


def test_a_source_slower_than_the_loop_loses_nothing(live_experiment, reference_file,
                                                      fast_clip, tmp_path):
    """One frame comes only once the loop has read the previous one out (counted events and a
    clock the test advances, not wall time): every frame is processed, none skipped, each
    pushed one frame interval after it arrived."""
    clock = FakeClock()
    source = SteppedSource(fast_clip, clock)
    s = run_live(LiveReadout(live_experiment.model), source, reference=reference_file,
                 lsl=None, record=tmp_path / "rec", clock=clock,
                 on_reading=lambda r: source.release(1))
    rec = pd.read_parquet(tmp_path / "rec" / "frames.parquet")
    assert (s.received, s.processed, s.skipped) == (100, 100, 0)
    assert rec["frame"].tolist() == list(range(100)) and (rec["skipped"] == 0).all()
    np.testing.assert_allclose(rec["latency_ms"], 10.0)
    assert s.rate == pytest.approx(100.0)


def test_a_loop_slower_than_the_source_skips_counts_and_stays_current(
        live_experiment, reference_file, fast_clip, tmp_path):
    """Three frames arrive while the loop reads one out: the loop always takes the newest,
    counts the two it dropped (in the summary, each row and the frame numbers alike), and its
    latency stays one loop long, where a queue's would grow by two frames a loop (to 2 s by
    the end). Counted events and a clock the test advances: no wall time."""
    clock = FakeClock()
    source = SteppedSource(fast_clip, clock)
    s = run_live(LiveReadout(live_experiment.model), source, reference=reference_file,
                 lsl=None, record=tmp_path / "rec", clock=clock,
                 on_reading=lambda r: source.release(3))  # a loop as long as 3 frames
    rec = pd.read_parquet(tmp_path / "rec" / "frames.parquet")
    assert rec["frame"].tolist() == list(range(0, 100, 3))
    assert (s.received, s.processed, s.skipped) == (100, 34, 66)
    assert rec["skipped"].tolist() == [0] + [2] * 33
    gaps = np.diff(np.r_[-1, rec["frame"].to_numpy()]) - 1
    np.testing.assert_array_equal(gaps, rec["skipped"])
    np.testing.assert_allclose(rec["latency_ms"], 30.0)  # bounded: one loop, every frame
    assert s.latency_ms["max"] == pytest.approx(30.0)
    assert s.rate == pytest.approx(1 / 0.03)


def test_calibrating_live_never_streams_a_frame_that_waited_for_it(live_experiment,
                                                                  tmp_path):
    """At a camera's pace, the frame that ends calibration waits while the calibration is
    computed: it is skipped (counted), and every row of the record says how many frames were
    dropped before it."""
    frames, _ = _frames(live_experiment.video(PAIN))
    clip = write_video(tmp_path / "clip.mp4", frames[:120], 50.0)
    s = run_live(LiveReadout(live_experiment.model), open_source(clip, replay=True),
                 calibrate=1.0, lsl=None, record=tmp_path / "rec")
    rec = pd.read_parquet(tmp_path / "rec" / "frames.parquet")
    assert s.received == 120 == len(rec) + s.skipped
    gaps = np.diff(np.r_[-1, rec["frame"].to_numpy()]) - 1
    np.testing.assert_array_equal(gaps, rec["skipped"])
    streamed = rec[rec["window"] == ""]
    assert streamed["skipped"].iloc[0] >= 1  # the frame that ended calibration
    # ... is never streamed: the first streamed frame is a later one, taken after calibration
    calibrated = next(m for m in s.markers if m["marker"] == "calibrated")
    assert streamed["frame"].iloc[0] > calibrated["frame"]
    assert rec.loc[rec["frame"] <= calibrated["frame"], "window"].eq("neutral").all()
    assert streamed["latency_ms"].max() == pytest.approx(s.latency_ms["max"])


# ------------------------------------------------------------------ the command


def _invoke(*args):
    from mouseface.cli import app

    r = runner.invoke(app, ["live", *map(str, args)])
    return r.exit_code, r.output


def test_the_command_records_a_results_folder_the_report_reads(live_experiment, tmp_path):
    from mouseface.report import write_report

    rec = tmp_path / "rec"
    code, out = _invoke(live_experiment.model, "--source", live_experiment.video(PAIN),
                        "--calibrate", CALIBRATE, "--record", rec, "--no-lsl",
                        "--trigger", f"pain:{THRESHOLD}")
    assert code == 0, out
    assert "frames streamed (0 skipped, 40 calibration)" in out
    run = json.loads((rec / "run.json").read_text())
    assert run["command"] == "live" and run["live"]["latency_ms"]["p99"] > 0
    assert run["live"]["triggers"][0]["fired"] >= 2
    report = write_report(rec)
    assert report.stat().st_size > 10_000


def _y4m_pipe(path, frames, fps, *, hold=None):
    """A named pipe fed a gray y4m stream of ``frames`` at ``fps``, as a camera delivers them;
    with ``hold`` the pipe stays open (a stalled camera) until it is set."""
    os.mkfifo(path)
    h, w = frames.shape[1:]

    def run():
        with open(path, "wb") as f:
            f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 Cmono\n".encode())
            t0 = time.monotonic()
            for i, fr in enumerate(frames):
                time.sleep(max(0.0, t0 + i / fps - time.monotonic()))
                f.write(b"FRAME\n" + fr.tobytes())
                f.flush()
            if hold is not None:
                hold.wait(30)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_a_stream_that_ends_is_one_line_and_the_record_is_kept(live_experiment, tmp_path):
    frames, _ = _frames(live_experiment.video(PAIN))
    pipe = tmp_path / "cam.y4m"
    writer = _y4m_pipe(pipe, frames[:60], 50)
    rec = tmp_path / "rec"
    code, out = _invoke(live_experiment.model, "--source", pipe, "--format", "yuv4mpegpipe",
                        "--calibrate", 0.4, "--record", rec, "--no-lsl")
    writer.join(10)
    one_line_error(code, out, str(pipe), "the stream ended after 60 frames", only=False)
    kept = pd.read_parquet(rec / "frames.parquet")
    run = json.loads((rec / "run.json").read_text())["live"]
    assert run["ended"].endswith("the stream ended after 60 frames")
    # every frame of the stream accounted for, whatever the machine's pace: kept, or counted
    # as skipped just before the row after it (or at the end)
    assert len(kept) + run["skipped"] == 60
    assert kept["frame"].is_monotonic_increasing and (kept["window"] == "neutral").any()
    gaps = np.diff(np.r_[-1, kept["frame"].to_numpy()]) - 1
    np.testing.assert_array_equal(gaps, kept["skipped"])
    assert run["skipped"] == kept["skipped"].sum() + (59 - kept["frame"].max())


def test_a_stalled_stream_is_one_line_and_the_record_is_kept(live_experiment, tmp_path):
    frames, _ = _frames(live_experiment.video(PAIN))
    pipe = tmp_path / "cam.y4m"
    hold = threading.Event()
    writer = _y4m_pipe(pipe, frames[:40], 50, hold=hold)
    rec = tmp_path / "rec"
    try:
        code, out = _invoke(live_experiment.model, "--source", pipe, "--format",
                            "yuv4mpegpipe", "--calibrate", 0.4, "--record", rec, "--no-lsl",
                            "--stall", 1.0)
    finally:
        hold.set()
        writer.join(10)
    one_line_error(code, out, str(pipe), "no frame for 1 s after 40 frames", "stalled", only=False)
    run = json.loads((rec / "run.json").read_text())["live"]
    assert len(pd.read_parquet(rec / "frames.parquet")) + run["skipped"] == 40


def test_a_crop_the_model_does_not_fit_is_one_line(live_experiment):
    code, out = _invoke(live_experiment.model, "--source", live_experiment.video(PAIN),
                        "--calibrate", 1, "--roi", "0,0,64,64", "--no-lsl")
    one_line_error(code, out, "fitted on 96 x 96", "crop is 64 x 64", "--roi", only=False)


def test_no_camera_and_no_calibration_are_one_line(live_experiment):
    code, out = _invoke(live_experiment.model, "--source", "/dev/video99", "--calibrate", 1)
    one_line_error(code, out, "/dev/video99: no camera at this path", only=False)
    code, out = _invoke(live_experiment.model, "--source", live_experiment.video(PAIN),
                        "--no-lsl")
    one_line_error(code, out, "--calibrate SECONDS", "--reference FILE", only=False)


def test_the_reference_file_carries_the_calibration_to_a_new_session(
        live_experiment, reference_file, pain_run, tmp_path):
    _, _, _, live = pain_run
    frames, times = _frames(live_experiment.video(PAIN))
    readout = LiveReadout(live_experiment.model).load_reference(reference_file)
    after = times >= CALIBRATE
    first = readout.update(frames[after][0], times[after][0])
    row = live[live["window"] == ""].iloc[0]
    assert first.similarity.astype(np.float32).tolist() == [row[f"sim_{n}"]
                                                            for n in readout.names_]
    assert np.float32(first.grade("pain")) == row["grade_pain"]  # the same neutral and unit
    other = tmp_path / "other"
    shutil.copytree(live_experiment.model / "model", other)
    meta = json.loads((other / "model.json").read_text())
    meta["names"]["transfer"] = ["neutral", "disgust"]
    (other / "model.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match=r"calibration.npz: made with another model: its "
                       r"names \['neutral', 'pain'\] differs"):
        LiveReadout(other).load_reference(reference_file)



FIRST_LIVE = r"""
import json, sys
from numba.core import event
from mouseface.features.face_setup import FaceSetup
from mouseface.live import LiveReadout, open_source, run_live

compiled, loaded = [], []

class Count(event.Listener):
    def on_start(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__qualname__)
    def on_end(self, ev):
        pass

load_kernels = FaceSetup.load_kernels
def marked(self, *args, **kwargs):
    load_kernels(self, *args, **kwargs)
    loaded.append(len(compiled))
FaceSetup.load_kernels = marked

model, video, calibrate = sys.argv[1], sys.argv[2], float(sys.argv[3])
with event.install_listener("numba:compile", Count()):
    s = run_live(LiveReadout(model), open_source(video), calibrate=calibrate, lsl=None)
print(json.dumps({"compiled": compiled, "loaded": loaded, "processed": s.processed}))
"""


def test_a_first_live_session_compiles_before_its_first_frame(live_experiment, tmp_path):
    # on a fresh Numba cache every kernel is compiled while the session is set up; none while
    # frames stream (a compile there stalls the stream for seconds)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    out = subprocess.run([sys.executable, "-c", FIRST_LIVE, str(live_experiment.model),
                          str(live_experiment.video(PAIN)), str(CALIBRATE)], env=env,
                         check=True, capture_output=True, text=True).stdout
    got = json.loads(out.strip().splitlines()[-1])
    ready = got["loaded"][-1]  # the outermost call ends last (beside: it calls itself)
    assert got["processed"] > 0 and "_cell_sums" in got["compiled"][:ready]
    assert got["compiled"][ready:] == []
