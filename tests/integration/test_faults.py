"""Faults a lab meets, from the command line: each is one line naming the file and the
problem, a non-zero exit, and nothing already written lost.

A full disk and a read-only file system are real ones: a small tmpfs mounted in a private
mount namespace (``unshare``), which needs no root where user namespaces are allowed; the tests
skip where they are not.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from tests.helpers import one_line_error
from typer.testing import CliRunner

from mouseface.cli import app

runner = CliRunner()
CONFIG = ("[hog]\npixels_per_cell = 16\n[registration]\ndrift = false\n"
          "[prototypes]\nbaseline = 0.5\nn_frames = 3\n")
EVENTS = {"session": ["s0"] * 4, "onset": [0.6, 1.2, 2.0, 2.6], "duration": [0.4] * 4,
          "trial_type": ["a", "b", "a", "b"]}


def _tables(folder: Path, video, **columns) -> tuple[Path, Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"session": ["s0"], "video": [str(video)], "animal": "m1", **columns}
                 ).to_csv(folder / "sessions.csv", index=False)
    pd.DataFrame(EVENTS).to_csv(folder / "events.csv", index=False)
    (folder / "c.toml").write_text(CONFIG)
    return folder / "sessions.csv", folder / "events.csv", folder / "c.toml"


def _invoke(*args) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, moving_video) -> tuple[Path, tuple[Path, Path, Path]]:
    """A results folder of `run` (its model inside) and the tables it was made from."""
    root = tmp_path_factory.mktemp("fitted")
    tables = _tables(root / "in", moving_video)
    out = root / "out"
    code, output = _invoke("run", tables[0], tables[1], "--out", out, "-c", tables[2], "-q")
    assert code == 0, output
    return out, tables


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------ damaged inputs


@pytest.mark.parametrize("damage", ["half-copied", "bit rot"])
def test_a_damaged_model_is_one_line(tmp_path, fitted, damage):
    """A half-copied ``prototypes.npz`` is not a zip file; a flipped byte fails its CRC only
    when the array is decompressed: both are one line naming the file."""
    results, (sessions, events, _) = fitted
    model = tmp_path / "model"
    shutil.copytree(results / "model", model)
    npz = model / "prototypes.npz"
    data = bytearray(npz.read_bytes())
    if damage == "half-copied":
        data = data[: len(data) // 2]
    else:
        data[200:260] = b"x" * 60
    npz.write_bytes(bytes(data))
    code, output = _invoke("score", model, sessions, events, "--out", tmp_path / "o", "-q")
    one_line_error(code, output, str(npz), "damaged or incomplete", "copy the model")
    assert not (tmp_path / "o" / "frames.parquet").exists()


def test_a_half_copied_template_is_one_line(tmp_path, fitted):
    results, (sessions, events, _) = fitted
    model = tmp_path / "model"
    shutil.copytree(results / "model", model)
    (model / "template.npy").write_bytes(b"\x93NUMPY" + b"\0" * 40)
    code, output = _invoke("score", model, sessions, events, "--out", tmp_path / "o", "-q")
    one_line_error(code, output, str(model / "template.npy"), "damaged or incomplete")


def test_an_empty_folder_as_the_video_says_it_has_no_frames(tmp_path):
    """Not "give its fps" first: the folder has nothing to give an fps to."""
    empty = tmp_path / "frames"
    empty.mkdir()
    sessions, events, config = _tables(tmp_path / "in", empty)
    code, output = _invoke("run", sessions, events, "--out", tmp_path / "o", "-c", config)
    one_line_error(code, output, "sessions.csv", str(empty), "no JPEG, PNG or TIFF frames")


def test_an_roi_smaller_than_one_hog_cell_is_one_line(tmp_path, moving_video):
    sessions, events, config = _tables(tmp_path / "in", moving_video, roi=["0,0,10,12"])
    code, output = _invoke("run", sessions, events, "--out", tmp_path / "o", "-c", config)
    one_line_error(code, output, "sessions.csv", "'s0'", "10x12 px",
                   "smaller than one HOG block of 16x16 px", "pixels_per_cell")
    assert not (tmp_path / "o" / "features").exists()  # refused before any frame was read


# ------------------------------------------------------------------ the output folder


def _small_fs(tmp_path: Path, script: str, size: str = "2m") -> None:
    """Run ``script`` (sh) with a ``size`` tmpfs mounted at ``$MNT`` and ``$MF`` running
    mouseface, in a mount namespace of its own (the mount vanishes with it). Skips where the
    system allows no such namespace."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    probe = subprocess.run(["unshare", "-rm", "sh", "-c",
                            f"mount -t tmpfs -o size=64k tmpfs {mnt}"], capture_output=True)
    if probe.returncode:
        pytest.skip(f"no private tmpfs here: {probe.stderr.decode().strip()}")
    mf = tmp_path / "mf"
    mf.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'from mouseface.cli import main; "
                  "main()' \"$@\"\n")
    mf.chmod(0o755)
    p = subprocess.run(["unshare", "-rm", "sh", "-euc",
                        f'mount -t tmpfs -o size={size} tmpfs "$MNT"\n{script}'],
                       capture_output=True, text=True, timeout=300,
                       env={**os.environ, "MNT": str(mnt), "MF": str(mf)})
    assert p.returncode == 0, p.stderr


def _mouseface(tmp_path: Path, args: str, name: str = "") -> str:
    """sh lines running ``$MF args`` and keeping its exit status and output outside."""
    return (f'set +e\n"$MF" {args} > {tmp_path}/out{name}.txt 2>&1\n'
            f"echo $? > {tmp_path}/code{name}\nset -e\n")


def _result(tmp_path: Path, name: str = "") -> tuple[int, str]:
    return (int((tmp_path / f"code{name}").read_text()),
            (tmp_path / f"out{name}.txt").read_text())


def _fill(reserve_kib: int = 0) -> str:
    """sh lines that fill ``$MNT`` but ``reserve_kib``."""
    return ('free=$(df -k "$MNT" | awk \'NR==2 {print $4}\')\n'
            f'dd if=/dev/zero of="$MNT/filler" bs=1k count=$((free - {reserve_kib})) '
            '2>/dev/null || true\n')


@pytest.mark.parametrize("command", ["run", "report"])
def test_a_full_disk_is_one_line_and_keeps_the_results(tmp_path, fitted, command):
    """A rerun into a results folder on a disk that is full: one line naming the output it
    could not write, exit 2, and every file of the earlier run as it was."""
    results, (sessions, events, config) = fitted
    args = (f'run {sessions} {events} --out "$MNT/out" -c {config} -q' if command == "run"
            else 'report "$MNT/out"')
    keep = tmp_path / "after"
    _small_fs(tmp_path, f'cp -r {results} "$MNT/out"\n' + _fill() + _mouseface(tmp_path, args)
              + f'rm -f "$MNT/filler"\ncp -r "$MNT/out" {keep}\n')
    line = one_line_error(*_result(tmp_path), "no space left on the device")
    assert str(tmp_path / "mnt" / "out") in line
    assert ".tmp" not in line  # the output's own name, not a temporary one
    assert _digests(keep) == _digests(results)


def test_a_full_disk_during_the_pass_names_the_feature_store(tmp_path, fitted):
    _, (sessions, events, config) = fitted
    _small_fs(tmp_path, _fill(reserve_kib=40) + _mouseface(
        tmp_path, f'run {sessions} {events} --out "$MNT/out" -c {config} -q'))
    one_line_error(*_result(tmp_path), str(tmp_path / "mnt" / "out"),
                   "no space left on the device")


def test_a_read_only_file_system_is_one_line(tmp_path, fitted):
    results, (sessions, events, config) = fitted
    run = f"run {sessions} {events} -c {config} -q --out"
    _small_fs(tmp_path, f'cp -r {results} "$MNT/out"\nmount -o remount,ro "$MNT"\n'
              + _mouseface(tmp_path, f'{run} "$MNT/out"', "1")
              + _mouseface(tmp_path, f'{run} "$MNT/new"', "2"))
    for k, where in (("1", "out"), ("2", "new")):
        line = one_line_error(*_result(tmp_path, k), "read-only file system")
        assert str(tmp_path / "mnt" / where) in line and ".tmp" not in line


# ------------------------------------------------------------------ one writer per folder

HOLD = """
import sys
from mouseface.io.lock import results_lock
with results_lock(sys.argv[1], "run"):
    print("held", flush=True)
    sys.stdin.readline()
"""


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from mouseface.cli import main; main()",
                           *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.fixture
def holder(tmp_path, fitted):
    """A copy of the results folder, and a process holding its lock (as a run would)."""
    out = tmp_path / "out"
    shutil.copytree(fitted[0], out)
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield out, proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(30)


def _refused_by_the_holder(code: int, output: str, out: Path, proc) -> None:
    """The refusal names the folder and the run holding it."""
    one_line_error(code, output, str(out), f"mouseface run (process {proc.pid} on",
                   "is writing this results folder")


def _release(proc) -> None:
    """The holder lets go of the lock, as a run does when it ends."""
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.wait(30) == 0


def test_a_second_run_into_a_folder_in_use_refuses(holder, fitted):
    """The second run names the folder and who holds it, and writes nothing there."""
    out, proc = holder
    _, (sessions, events, config) = fitted
    before = _digests(out)
    p = _cli("run", sessions, events, "--out", out, "-c", config, "-q")
    _refused_by_the_holder(p.returncode, p.stdout + p.stderr, out, proc)
    assert _digests(out) == before
    _release(proc)
    assert not (out / ".mouseface.lock").exists()  # the holder cleans up after itself


def test_the_lock_of_a_killed_run_is_taken_over(holder, fitted):
    out, proc = holder
    _, (sessions, events, config) = fitted
    proc.kill()
    proc.wait(30)
    assert (out / ".mouseface.lock").exists()  # left behind: nobody holds it now
    p = _cli("run", sessions, events, "--out", out, "-c", config, "-q")
    assert p.returncode == 0, p.stderr
    assert f"taking over the lock of mouseface run (process {proc.pid} on" in p.stderr
    assert "no longer running" in p.stderr
    assert not (out / ".mouseface.lock").exists()


def test_out_naming_a_file_is_one_line(tmp_path, fitted):
    _, (sessions, events, config) = fitted
    afile = tmp_path / "results.txt"
    afile.write_text("my notes\n")
    code, output = _invoke("run", sessions, events, "--out", afile, "-c", config, "-q")
    one_line_error(code, output, str(afile), "is a file, not a results folder")
    assert afile.read_text() == "my notes\n"


def test_a_store_another_run_replaced_is_never_written(tmp_path, moving_video):
    """Feature stores carry what made them: a writer whose store was replaced by another
    configuration's (another ROI) refuses it instead of mixing the two."""
    from mouseface._errors import InputError
    from mouseface.features.extract import Target, extract_range, prepare_stores
    from mouseface.settings import Settings

    hog = Settings.model_validate({"hog": {"pixels_per_cell": 16}}).hog_params()
    path = tmp_path / "features" / "s0.zarr"
    mine = Target(path, (0, 0, 64, 64))
    (store,) = prepare_stores(moving_video, [mine], hog_params=hog, chunk_size=16)
    mine = Target(path, mine.roi, fingerprint=store.attrs["fingerprint"])
    theirs = Target(path, (32, 16, 64, 64))  # the same size: only the fingerprint tells
    prepare_stores(moving_video, [theirs], hog_params=hog, chunk_size=16)
    with pytest.raises(InputError, match=r"s0\.zarr: this feature store was replaced by "
                                         "another run"):
        extract_range(moving_video, [mine], hog_params=hog, chunk_size=16)
    assert extract_range(moving_video, [Target(path, theirs.roi, fingerprint=prepare_stores(
        moving_video, [theirs], hog_params=hog, chunk_size=16)[0].attrs["fingerprint"])],
        hog_params=hog, chunk_size=16).chunks_written == 4


def test_two_runs_started_together_never_mix_the_folder(tmp_path, moving_video):
    """The lab's case: two runs into one folder with different ROIs, started at once. However
    they interleave, each exits 0 or refuses with the lock's line, and the folder is the whole
    of one run: its tables equal a clean run with that run's ROI (never a mix, never a
    crash)."""
    rois = ["0,0,96,80", "32,16,96,80"]
    tables = [_tables(tmp_path / f"in{k}", moving_video, roi=[r]) for k, r in enumerate(rois)]
    out = tmp_path / "out"
    procs = [subprocess.Popen([sys.executable, "-c", "from mouseface.cli import main; main()",
                               "run", str(s), str(e), "--out", str(out), "-c", str(c), "-q",
                               "--no-report"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for s, e, c in tables]
    ended = [(p.wait(300), p.stdout.read()) for p in procs]
    for code, output in ended:
        if code != 0:
            one_line_error(code, output, str(out), "is writing this results folder")
    assert any(code == 0 for code, _ in ended), ended
    trials = pd.read_csv(out / "trials.csv")
    clean = []
    for k, (s, e, c) in enumerate(tables):
        code, output = _invoke("run", s, e, "--out", tmp_path / f"clean{k}", "-c", c, "-q",
                               "--no-report")
        assert code == 0, output
        clean.append(pd.read_csv(tmp_path / f"clean{k}" / "trials.csv"))
    same = [k for k in range(2) if trials.equals(clean[k])]
    assert len(same) == 1 and ended[same[0]][0] == 0, (same, ended)
    from mouseface.io.store import FeatureStore

    roi = FeatureStore(out / "features" / "s0.zarr").attrs["roi"]
    assert ",".join(map(str, roi)) == rois[same[0]]


def test_a_report_refuses_while_a_run_writes_the_folder(holder):
    out, proc = holder
    before = _digests(out)
    p = _cli("report", out)
    _refused_by_the_holder(p.returncode, p.stdout + p.stderr, out, proc)
    assert _digests(out) == before
    _release(proc)
    code, output = _invoke("report", out, "-q")
    assert code == 0, output


def test_the_analyses_refuse_while_a_run_writes_the_folder(holder):
    out, proc = holder
    p = _cli("stats", out)
    _refused_by_the_holder(p.returncode, p.stdout + p.stderr, out, proc)
    assert not (out / "analysis").exists()


@pytest.mark.parametrize("command", [
    ["overlay", "{out}", "s0"],
    ["export-nwb", "{out}"],
    ["export-nwb", "{out}", "--out", "{out}/archive"],
    ["neural", "{out}", "--traces", "{tmp}/traces.csv"],
    ["bouts", "{out}"],
    ["bouts", "{sessions}", "{events}", "--out", "{out}"],
    ["live", "{out}", "--source", "{video}", "--record", "{out}", "--no-lsl"],
])
def test_every_writer_refuses_while_a_run_writes_the_folder(holder, fitted, moving_video,
                                                           tmp_path, command):
    """Each command that writes into a results folder (by default, or an --out inside it)
    holds its lock: the second writer is one line and writes nothing there."""
    out, proc = holder
    _, (sessions, events, _) = fitted
    (tmp_path / "traces.csv").write_text("time,n0\n0,1\n1,2\n")
    before = _digests(out)
    code, output = _invoke(*(a.format(out=out, tmp=tmp_path, sessions=sessions, events=events,
                                      video=moving_video) for a in command))
    _refused_by_the_holder(code, output, out, proc)
    assert _digests(out) == before


def test_a_writer_whose_out_is_elsewhere_does_not_wait(holder, tmp_path):
    """An overlay written outside the results folder reads it while a run holds it."""
    out, _ = holder
    code, output = _invoke("overlay", out, "s0", "--out", tmp_path / "s0.mp4", "-q")
    assert code == 0, output
    assert (tmp_path / "s0.mp4").stat().st_size > 0
