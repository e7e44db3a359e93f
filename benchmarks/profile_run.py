"""Where ``mouseface run``'s time goes: a per-stage budget, in CPU ms per frame, from py-spy.

Run::

    python benchmarks/profile_run.py [--frames 9000] [--rate 100] [--keep FILE]
    python benchmarks/profile_run.py --raw FILE --frames N     # summarise a kept profile

On :mod:`bench_run`'s generated file (640x480 H.264, crf 18; one session, a 400x400 face ROI,
30 events; ``MOUSEFACE_BENCH_CACHE`` says where it is kept), in one run:

1. decode-only, 1 and 2 processes (``bench_run.py``'s script), with the decoders' CPU time:
   decoding costs ``d`` CPU ms per frame, so at 0.7 of a decode that keeps every core busy a
   frame may cost ``d / 0.7`` CPU ms, ``d (1 / 0.7 - 1)`` of them besides decoding: the budget;
2. one plain ``mouseface run ... --no-report -q`` (Numba's cache and the page cache warm, as
   from a second run on), timed, with the process's CPU time (``getrusage``, at exit);
3. the same under ``py-spy record --format raw --threads`` while every thread's CPU time is
   read from ``/proc`` every 20 ms.

Each sample's stack is put in one stage by the functions on it (:data:`STAGES`: within the
pass the innermost matching frame decides, outside it the outermost); samples of threads
that wait (:data:`WAITS`) are dropped. Each thread's measured CPU time is then shared out over
its samples: py-spy counts a thread whenever it is runnable, which on a loaded machine includes
waiting for a core, so sample counts measure CPU within a thread, not across threads. CPU of
threads py-spy cannot see (FFmpeg's, BLAS's, OpenMP's) is ``native threads``. Prints the CPU
ms per frame of every stage, the pass's and the rest's sums, and ``run.json``'s stage walls.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: Stages, as (name, part, functions). A sample goes to the first stage of its part (``pass``:
#: within the pass, matched from the innermost frame out; ``fixed``: outside it, matched from
#: the outermost frame in) one of whose functions is on its stack. A function is
#: ``qualname`` or ``qualname@file-suffix``.
STAGES: list[tuple[str, str, tuple[str, ...]]] = [
    # within the pass (extract_range), innermost first
    ("decode", "pass", ("_decode@io/video.py", "_decode_packets@io/video.py",
                        "_AVSource._counted", "_chain_all@io/video.py")),
    ("crop (reader)", "pass", ("_produce@features/extract.py",)),
    ("drift", "pass", ("FacePass._measure", "ShiftEstimator.__call__")),
    ("warp", "pass", ("warp_frames@features/warp.py",)),
    ("HOG", "pass", ("hog@features/hog.py",)),
    ("quality", "pass", ("FacePass._measures",)),
    ("mask fill, drift bookkeeping", "pass", ("FacePass._filled", "FacePass._release",
                                              "FacePass.push", "FacePass.flush")),
    ("kept crops", "pass", ("KeptFaces.add", "KeptFaces.merge")),
    ("store writes", "pass", ("_ChunkBuffer.flush", "FeatureStore.write_chunk")),
    ("pass, other", "pass", ("extract_range@features/extract.py",)),
    # outside the pass, outermost first
    ("imports", "fixed", ("_find_and_load",)),
    ("compile-cache load", "fixed", ("FaceSetup.load_kernels",)),
    ("baseline pre-read", "fixed", ("_pre_read@workflows/prepare.py",)),
    ("registration", "fixed", ("_register@workflows/prepare.py",)),
    ("calibration", "fixed", ("_targets@workflows/prepare.py",)),
    ("stores open/finish", "fixed", ("extract_sessions@workflows/execute.py",)),
    ("quality/drift tables", "fixed", ("_columns@workflows/prepare.py",)),
    ("scoring: similarity, frame tables", "fixed", ("_frame_table@workflows/scoring.py",)),
    ("scoring: prototypes, trials", "fixed", ("per_animal@workflows/scoring.py",)),
    ("writes: frames, trials, model, run.json", "fixed", (
        "_write_frames", "_write_trials", "_save@workflows/pipeline.py",
        "_mean_faces@workflows/pipeline.py", "_finish@workflows/pipeline.py",
        "write_registration")),
    ("zarr I/O threads (store reads and writes)", "fixed", ()),
    ("startup, other", "fixed", ()),
    ("native threads", "native", ()),
]

#: Threads of Zarr's event loop: what they run is a store's reading or writing, whoever asked.
ZARR_THREADS = ("zarr_io", "asyncio_")

#: Innermost functions of a thread that waits (py-spy counts a thread as running whenever its
#: state is runnable, which on a loaded machine includes waking from a wait): not CPU work.
WAITS = ("Condition.wait", "Event.wait", "Thread.join", "_worker@concurrent/futures/thread.py",
         "EpollSelector.select", "SelectSelector.select", "Queue.get", "Queue.put",
         "_produce.<locals>.put", "sleep")

_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^()]*):\d+\)$")


def _frames(stack: str) -> list[tuple[str, str]]:
    """(qualname, file) of each frame of a raw stack, outermost first."""
    out = []
    for part in stack.split(";")[1:]:  # the first is the thread
        m = _FRAME.match(part)
        if m:
            out.append((m["name"], m["file"]))
    return out


def _matches(frame: tuple[str, str], rule: str) -> bool:
    name, file = frame
    want, _, suffix = rule.partition("@")
    if name != want and not name.endswith("." + want) and not (
            "." in want and name == want):
        return False
    return not suffix or file.endswith(suffix)


def stage_of(frames: list[tuple[str, str]]) -> str:
    """The stage of one sample's stack (see :data:`STAGES`)."""
    if not frames or any(_matches(frames[-1], r) for r in WAITS):
        return "waiting"
    in_pass = any(_matches(f, "extract_range@features/extract.py")
                  or _matches(f, "_produce@features/extract.py") for f in frames)
    if in_pass:
        for f in reversed(frames):
            for name, part, rules in STAGES:
                if part == "pass" and any(_matches(f, r) for r in rules):
                    return name
        return "pass, other"
    for f in frames:
        for name, part, rules in STAGES:
            if part == "fixed" and any(_matches(f, r) for r in rules):
                return name
    return "startup, other"


def summarise(raw: Path, thread_cpu: dict[int, float] | None = None) -> Counter:
    """Seconds (``thread_cpu`` given) or samples per stage of a py-spy raw file.

    With ``thread_cpu`` (OS thread id -> CPU seconds), each thread's CPU time is shared out over
    its working samples: on a loaded machine py-spy also counts a thread that is runnable but
    waits for a core, most of all one that wakes often, so raw sample counts are no measure of
    CPU across threads; within a thread they are. CPU of threads without a working sample
    (native ones: FFmpeg's, BLAS's, Numba's workers) goes to ``native threads``.
    """
    per: dict[int, Counter] = {}
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        head = stack.split(";", 1)[0]
        m = re.match(r"thread \((?:0x)?(\w+)\)(?:: (.*))?", head)
        tid = int(m[1]) if m and m[1].isdigit() else -1
        name = (m[2] or "") if m else ""
        stage = stage_of(_frames(stack))
        if stage != "waiting" and name.startswith(ZARR_THREADS):
            stage = "zarr I/O threads (store reads and writes)"
        per.setdefault(tid, Counter())[stage] += int(n)
    counts: Counter = Counter()
    for tid, c in per.items():
        c.pop("waiting", None)
        total = sum(c.values())
        scale = 1.0
        if thread_cpu is not None:
            scale = thread_cpu.get(tid, 0.0) / total if total else 0.0
        for k, v in c.items():
            counts[k] += v * scale
    if thread_cpu is not None:
        seen = {t for t, c in per.items() if sum(c.values())}
        counts["native threads"] += sum(v for t, v in thread_cpu.items() if t not in seen)
    return counts


def poll_threads(pid: int, into: dict[int, float], names: dict[int, str]) -> None:
    """Each thread's CPU seconds so far (``/proc/PID/task/TID/stat``), into ``into``, and its
    name into ``names``."""
    tick = os.sysconf("SC_CLK_TCK")
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return
    for t in tids:
        try:
            with open(f"/proc/{pid}/task/{t}/stat") as f:
                head, _, tail = f.read().rpartition(")")
        except OSError:
            continue
        fields = tail.split()
        into[int(t)] = (int(fields[11]) + int(fields[12])) / tick
        names[int(t)] = head.partition("(")[2]


def table(counts: Counter, n_frames: int, seconds: bool, rate: float,
          walls: dict[str, float] | None = None) -> list[str]:
    """The budget table (markdown lines): CPU ms per frame by stage (``counts`` in seconds,
    or in samples at ``rate``)."""
    total = sum(counts.values())
    scale = 1.0 if seconds else 1.0 / rate
    unit = "CPU ms/frame" if seconds else "sampled ms/frame"
    lines = [f"| stage | {unit} | share |", "|---|---:|---:|"]
    sums = {"pass": 0.0, "fixed": 0.0, "native": 0.0}
    for name, part, _ in STAGES:
        n = counts.get(name, 0)
        ms = n * scale * 1000 / n_frames
        sums[part] += ms
        if n:
            lines.append(f"| {name} | {ms:.3f} | {n / total:.1%} |")
    whole = sum(sums.values())
    lines.append(f"| **the pass** (decode included) | **{sums['pass']:.3f}** | "
                 f"{sums['pass'] / whole:.1%} |")
    lines.append(f"| **outside the pass** | **{sums['fixed']:.3f}** "
                 f"({sums['fixed'] * n_frames / 1000:.2f} s) | {sums['fixed'] / whole:.1%} |")
    lines.append(f"| **all** | **{whole:.3f}** ({whole * n_frames / 1000:.2f} s) | 100% |")
    if walls:
        lines.append("")
        lines.append("run.json stage walls (s): " + ", ".join(
            f"{k} {v:.2f}" for k, v in walls.items()))
    return lines


WRAP = """
import atexit, json, resource, sys
def _cpu(path=sys.argv.pop(1)):
    r = resource.getrusage(resource.RUSAGE_SELF)
    with open(path, "w") as f:
        json.dump({"user": r.ru_utime, "sys": r.ru_stime}, f)
atexit.register(_cpu)
from mouseface.cli import main
sys.argv[0] = "mouseface"
main()
"""


def _run_cmd(sessions: Path, events: Path, out: Path, cpu: Path) -> list[str]:
    return [sys.executable, "-c", WRAP, str(cpu), "run", str(sessions), str(events),
            "--out", str(out), "--no-report", "-q"]


def _walls(out: Path) -> dict[str, float]:
    try:
        run = json.loads((out / "run.json").read_text())
    except (OSError, ValueError):
        return {}
    t = run.get("timings_s") or {}
    return {k: float(v) for k, v in t.items() if isinstance(v, (int, float))}


def _decode_cpu(video: Path, parts: int) -> tuple[float, float]:
    """(frames/s, CPU seconds per frame) of decoding every frame in ``parts`` processes."""
    from bench_run import DECODE

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", DECODE, str(video), str(k), str(parts)],
                              stdout=subprocess.PIPE, text=True) for k in range(parts)]
    n = sum(int(p.communicate()[0]) for p in procs)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return n / wall, cpu / n


def _profiled(cmd: list[str], raw: Path, rate: float, names: dict[int, str]
              ) -> dict[int, float]:
    """Run ``cmd`` under py-spy; returns each of its threads' CPU seconds (polled) and puts
    their names in ``names``."""
    spy = subprocess.Popen([shutil.which("py-spy"), "record", "--format", "raw", "--threads",
                            "--rate", str(int(rate)), "--output", str(raw), "--", *cmd],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpu: dict[int, float] = {}
    pid = None
    while spy.poll() is None:
        if pid is None:
            try:
                kids = Path(f"/proc/{spy.pid}/task/{spy.pid}/children").read_text().split()
                pid = int(kids[0]) if kids else None
            except OSError:
                pass
        if pid is not None:
            poll_threads(pid, cpu, names)
        time.sleep(0.02)
    if spy.returncode:
        raise subprocess.CalledProcessError(spy.returncode, cmd)
    return cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=9000)
    ap.add_argument("--rate", type=float, default=100.0, help="py-spy samples per second")
    ap.add_argument("--raw", type=Path, help="summarise this py-spy raw file instead "
                    "(with FILE.cpu.json, the threads' CPU seconds, when --keep wrote one)")
    ap.add_argument("--keep", type=Path, help="copy the raw profile here (and FILE.cpu.json)")
    args = ap.parse_args()
    if args.raw is not None:
        side = args.raw.with_name(args.raw.name + ".cpu.json")
        cpu = ({int(k): v for k, v in json.loads(side.read_text()).items()}
               if side.is_file() else None)
        print("\n".join(table(summarise(args.raw, cpu), args.frames, cpu is not None,
                              args.rate)))
        return

    from bench_run import make_video, tables

    if shutil.which("py-spy") is None:
        sys.exit("profile_run.py: py-spy is not installed (pip install py-spy)")
    video = make_video(args.frames)
    work = Path(tempfile.mkdtemp(prefix="mouseface-profile-run-"))
    try:
        sessions, events = tables(work / "tables", video, args.frames)
        d1, _ = _decode_cpu(video, 1)
        d2, dec = _decode_cpu(video, 2)
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        subprocess.run(_run_cmd(sessions, events, work / "plain", work / "plain.json"),
                       check=True, stdout=subprocess.DEVNULL)
        plain_wall = time.perf_counter() - t0
        plain_cpu = sum(json.loads((work / "plain.json").read_text()).values())
        raw = work / "raw.txt"
        t0 = time.perf_counter()
        names: dict[int, str] = {}
        threads = _profiled(_run_cmd(sessions, events, work / "prof", work / "prof.json"),
                            raw, args.rate, names)
        prof_wall = time.perf_counter() - t0
        prof_cpu = sum(json.loads((work / "prof.json").read_text()).values())
        load1 = os.getloadavg()[0]
        if args.keep is not None:
            shutil.copy(raw, args.keep)
            args.keep.with_name(args.keep.name + ".cpu.json").write_text(json.dumps(threads))
        counts = summarise(raw, threads)
        sampled = {int(m[1]) for m in re.finditer(r"^thread \((\d+)\)", raw.read_text(),
                                                   re.M)}
        walls = _walls(work / "prof")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    budget = dec * 1000 * (1 / 0.7 - 1)
    print(f"file: {video.name} ({args.frames} frames 640x480, crf 18), face ROI 400x400; "
          f"cpus {os.cpu_count()}, load {load0:.1f} -> {load1:.1f}")
    print(f"decode: 1 process {d1:.0f} fps, 2 processes {d2:.0f} fps, {dec * 1000:.3f} CPU "
          f"ms/frame; at 0.7 of a decode that fills the cores a frame may cost "
          f"{dec * 1000 / 0.7:.3f} CPU ms: {budget:.3f} ms besides decoding")
    print(f"run (plain): {plain_wall:.1f} s wall = {args.frames / plain_wall:.0f} fps "
          f"({args.frames / plain_wall / max(d1, d2):.2f} of the best decode), CPU "
          f"{plain_cpu:.1f} s = {plain_cpu * 1000 / args.frames:.3f} ms/frame")
    print(f"run (py-spy, {args.rate:.0f} Hz): {prof_wall:.1f} s wall, CPU {prof_cpu:.1f} s "
          f"(threads polled: {sum(threads.values()):.1f} s)\n")
    print("\n".join(table(counts, args.frames, True, args.rate, walls)))
    native: Counter = Counter()
    for t, v in threads.items():
        if t not in sampled:
            native[names.get(t, "?")] += v
    print("native threads (CPU s): " + ", ".join(f"{k} {v:.2f}" for k, v in
                                                 native.most_common() if v >= 0.01))


if __name__ == "__main__":
    main()
