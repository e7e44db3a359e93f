"""``mouseface demo``: simulate a small experiment and run the whole pipeline on it."""

from __future__ import annotations

import json
import sys
import time as _time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mouseface._atomic import write_json
from mouseface._progress import Reporter
from mouseface.io.layout import ResultsLayout
from mouseface.io.tables import NEUTRAL
from mouseface.settings import Settings, load_settings

if TYPE_CHECKING:
    from mouseface.io.results import Results


def comparison_summary(results: Path, by: str, condition: str) -> dict[str, Any]:
    """What the demo prints of ``mouseface compare --by <by>``: the condition's trials scored
    with its own prototype. Run with the command's own defaults (permutations, bootstrap
    resamples, seed), so that the demo and the command print the same numbers: a
    permutation p is never below ``1 / (n_permutations + 1)``, and the demo's fewer
    permutations once printed 0.0005 where the command gave 0.0002 for the same comparison."""
    from mouseface.workflows.compare import compare

    table = compare(results, by)
    row = table[(table["condition"] == condition) & (table["prototype"] == condition)].iloc[0]
    return {"difference": round(float(row.difference), 3),
            "ci": [round(float(row.ci_low), 3), round(float(row.ci_high), 3)],
            "p_value": float(row.p_value), "unit": row.unit,
            "levels": [row.level_a, row.level_b]}


def trial_accuracy(trials: pd.DataFrame) -> float:
    """Fraction of trials whose top-scoring emotion prototype is their own condition."""
    from mouseface.expressions.trials import top_prototype

    if trials.empty or not any(c.startswith("score_") and c != f"score_{NEUTRAL}"
                               for c in trials.columns):
        return float("nan")
    return float((top_prototype(trials) == trials["trial_type"].astype(str)).mean())


#: the demo's experiment: three stimulus conditions (pleasure at two needs), and a fear session
#: per animal whose shocks cause pain and after which the mouse freezes and escapes by itself
DEMO_CONDITIONS = ("pleasure", "disgust", "malaise")
DEMO_NEEDS = {"pleasure": {"thirsty": 1.0, "sated": 0.5}}
DEMO_FEAR_ITEMS = {"passive_fear": 3, "active_fear": 3, "grooming": 1, "brief_stillness": 1,
                   "whisking_stillness": 1}
DEMO_SIZE = (128, 128)


def demo(out: str | Path = "mouseface_demo", *, seed: int = 0, n_animals: int = 4,
         n_trials: int = 4, quiet: bool = False, analyses: bool = True) -> dict[str, Any]:
    """Simulate a small experiment of synthetic faces, run the whole pipeline on it.

    The experiment (:func:`mouseface.synth.simulate_experiment`): per animal, sucrose-like
    pleasure while thirsty and while sated, disgust and malaise (``n_trials`` stimuli each),
    and a fear session: ``n_trials`` shocks (pain), then a fear context in which the mouse
    freezes and escapes by itself (its body on a running wheel below the face). The pipeline:
    ``bouts`` finds the freezing and escape bouts from the body, wheel and face movement;
    ``run`` scores every frame and trial with the stimuli and the bouts as events (six
    states), and measures the facial action units from the keypoints the renderer drew
    (written as Facemap files, with label noise and lost points); the analyses, ``compare
    --by need`` and the neural correlates follow.

    Writes ``out/data`` (videos, tables, ground truth, a simulated suite2p population),
    ``out/results`` (the results folder, with ``behaviour/``, ``analysis/``, ``neural/`` and
    ``report.html``), ``out/states.png`` (one animal's face in every state) and returns a
    summary.
    """
    # what the simulation needs, and no more: the rest is imported while the workers render
    from mouseface import synth

    out = Path(out)
    t0 = _time.perf_counter()
    # L1: with 8 bins and 1x1 blocks, L2-Hys clipping flattens the crisp synthetic edges; the
    # ground-truth tests (tests/integration/test_synthetic_truth.py) use the same settings.
    settings = load_settings(hog={"pixels_per_cell": (16, 16), "block_norm": "L1"},
                             prototypes={"baseline": 2.0})
    # two processes of their own compile the run's kernels while this one compiles the
    # renderer's and the workers render (forked now, before the progress display's thread)
    compiling = _compile_beside(settings)
    reporter = Reporter(quiet)
    with reporter.live():
        task = reporter.task(f"simulating {n_animals} animals", total=None)
        # while the workers render, this process imports the next steps and loads the run's
        # kernels once those have compiled them into Numba's cache: the run's
        # `compile` stage then has nothing left to do
        exp = synth.simulate_experiment(
            out / "data", n_animals=n_animals, n_trials=n_trials, seed=seed,
            conditions=DEMO_CONDITIONS, needs=DEMO_NEEDS, fear=True,
            fear_shocks=max(2, n_trials), fear_items=DEMO_FEAR_ITEMS, size=DEMO_SIZE,
            preset="ultrafast", crf=21, keypoints=True,
            on_progress=lambda done, total: task.update(completed=done, total=total),
            while_rendering=lambda: _while_rendering(settings, compiling))
    t_sim = _time.perf_counter() - t0
    from mouseface.expressions.bouts import BOUT_TYPES, detection_scores, match_bouts
    from mouseface.report.html import add_drawn, draw_figures, encode_extras
    from mouseface.workflows import pipeline
    from mouseface.workflows.behaviour import bouts

    results = out / "results"
    # the bouts' figure is drawn in the second process, while the run goes on
    found = bouts(exp.sessions_path, exp.events_path, out=results, context="pain", quiet=quiet,
                  figure=False)
    t_bouts = _time.perf_counter() - t0 - t_sim
    truth = exp.bouts[exp.bouts["behaviour"].isin(BOUT_TYPES)].rename(
        columns={"behaviour": "trial_type"})
    scores = detection_scores(match_bouts(found["bouts"], truth)).set_index("trial_type")
    summary: dict[str, Any] = {
        "bouts_found": {k: {"true": int(scores.loc[k, "true"]), "found": int(scores.loc[k,
                            "found"]), "f1": round(float(scores.loc[k, "f1"]), 3)}
                        for k in BOUT_TYPES if k in scores.index}}
    # a second process draws the figures that need no run (the bouts', the faces') while the
    # run goes on, then does the analyses while this one does the rest: the run's first
    # stages and the steps after it are single-threaded, and the demo's machine has two cores
    from mouseface.report.behaviour_figures import bouts_figure

    early = [(bouts_figure, (found["result"], found["events_table"], found["paths"]["figure"])),
             (synth.state_figure, (out / "states.png",))]
    with _Beside(results, start=analyses, early=early) as beside:
        held = pipeline.run(exp.sessions_path, ResultsLayout(results).bouts_events, results,
                            settings=settings, quiet=quiet, report=False)
        beside.go()
        summary["compare_need"] = comparison_summary(results, "need", "pleasure")
        if analyses:
            from mouseface.workflows.neural import STEPS, neural_correlates

            suite2p, sessions = _demo_population(exp, results, out / "data" / "suite2p", seed)
            with Reporter(quiet).steps("neural", len(STEPS)) as step:
                # the body camera films the fear session only: the face's motion energy,
                # measured in every session, is the movement control (no warning about the
                # demo's own data)
                summary["neural"] = neural_correlates(results, suite2p, session=sessions,
                                                      seed=seed, n_permutations=20,
                                                      progress=step, movement=["motion_energy"])
            summary["neurons_found"] = _neurons_found(
                results, json.loads((suite2p / "truth.json").read_text()))
        summary["action_units_found"] = action_units_found(held.trials, exp.animals,
                                                           DEMO_SIZE)
        write_json(ResultsLayout(results).simulation_check, {
            "bouts": summary["bouts_found"], "neurons": summary.get("neurons_found"),
            "action_units": summary["action_units_found"],
            "simulation": {"seed": seed, "animals": n_animals, "trials": n_trials,
                           "data": str(out / "data")}})
        with Reporter(quiet).steps("report", 3) as step:
            step("figures")
            # the sections the second process has not taken (it takes them from the end
            # once it is done)
            drawn = draw_figures(results, held, held.run, registration=not analyses,
                                 claim=beside.claim if analyses else None)
            if analyses:
                # the report's images of this process's figures, while the analyses go on
                # (the bouts': the second process, which drew them)
                encode_extras(results, ("neural",))
                step("waiting for the analyses")
                summary["analysis"] = beside.result()
                drawn["registration"] = beside.registration  # None: the report draws them
                add_drawn(drawn, beside.drawn)
            held.__dict__.pop("run", None)  # the analyses added warnings to run.json: read it
            report = pipeline._report(
                results, held, drawn=drawn,
                progress=lambda name: step(name) if name == "page" else None)
    trials = pd.read_csv(ResultsLayout(results).trials)
    own = {c: float(trials.loc[trials.trial_type == c, f"score_{c}"].mean())
           for c in sorted(trials.trial_type.unique())}
    return {"out": str(out), "results": str(results), "report": str(report),
            "states_figure": str(out / "states.png"), "n_trials": len(trials),
            "own_condition_score": own,
            "top_prototype_is_true_condition": trial_accuracy(trials),
            "simulate_s": round(t_sim, 1), "bouts_s": round(t_bouts, 1),
            "total_s": round(_time.perf_counter() - t0, 1), **summary}


def _load_kernels(settings: Settings, part: str = "all") -> None:
    """Compile the demo's run's Numba kernels for ``settings`` or load them from the cache
    (:meth:`~mouseface.features.face_setup.FaceSetup.load_kernels` for the demo's ROI: its
    ``part``)."""
    from mouseface.features.face_setup import FaceSetup

    FaceSetup.from_settings(settings, scope="animal").load_kernels([DEMO_SIZE], part=part)


def _compile_beside(settings: Settings) -> list:
    """Two processes forked from this one that compile the run's kernels into Numba's on-disk
    cache, the synthetic pass's in one and the others in the other (:func:`_load_kernels`),
    and exit; none off Linux (this one then compiles them itself)."""
    import multiprocessing

    # Linux only: on macOS a forked child of a process that loaded the system's frameworks
    # may crash (why CPython starts processes by spawning there)
    if sys.platform != "linux" or "fork" not in multiprocessing.get_all_start_methods():
        return []
    procs = [multiprocessing.get_context("fork").Process(
        target=_load_kernels, args=(settings, part), name=f"mouseface-demo-kernels-{part}",
        daemon=True) for part in ("pass", "other")]
    for proc in procs:
        proc.start()
    return procs


def _while_rendering(settings: Settings, compiling: list | None = None) -> None:
    """What the demo's process does while the workers render: import the steps that follow,
    then load the run's Numba kernels (:func:`_load_kernels`) once the ``compiling``
    processes (:func:`_compile_beside`) have compiled them into the cache (whatever they
    left, this process compiles)."""
    import mouseface.report.html  # noqa: F401
    import mouseface.workflows.behaviour  # noqa: F401
    import mouseface.workflows.pipeline  # noqa: F401

    for proc in compiling or []:
        proc.join()
    _load_kernels(settings)


#: the smallest known change (at full intensity) called clear, by unit: a fifth of the eye's
#: neutral opening, 10 degrees, 3 px on the demo's 128-px face (twice the nose displacement's
#: floor from label noise: 1.18 x 0.75 px x 2, rounded up, and a trial's mean change is a
#: fraction of the full-intensity one)
CLEAR_CHANGE = {"ratio": 0.2, "deg": 10.0, "px": 3.0}


def action_units_found(trials: pd.DataFrame, animals: dict, size: tuple[int, int]
                       ) -> dict[str, Any]:
    """The trials' mean action-unit changes per state against the simulation's truth.

    The truth of a state is its action units at full intensity (:func:`mouseface.synth.poses.
    action_unit_truth`, averaged over the animals; ratios as changes from 1). A change is
    *clear* when the truth's size reaches :data:`CLEAR_CHANGE` for its unit; ``in_direction``
    counts the clear changes whose trial mean has the truth's sign.
    """
    from mouseface.features.action_units import unit_of
    from mouseface.synth.poses import action_unit_truth

    cols = [c for c in trials.columns if c.startswith("au_")]
    if not cols:
        return {}
    states = sorted(set(trials["trial_type"].astype(str)))
    truth = sum(action_unit_truth(a, size, states) for a in animals.values()) / len(animals)
    mean = trials.groupby(trials["trial_type"].astype(str))[cols].mean()
    rows, clear, right = {}, 0, 0
    for state in states:
        rows[state] = {}
        for c in cols:
            unit = unit_of(c)
            known = float(truth.at[state, c]) - (1.0 if unit == "ratio" else 0.0)
            found = float(mean.at[state, c])
            rows[state][c] = {"truth": round(known, 3), "mean_change": round(found, 3)}
            if abs(known) >= CLEAR_CHANGE[unit]:
                clear += 1
                right += int(np.sign(found) == np.sign(known))
    return {"clear": clear, "in_direction": right, "states": rows}


def _analyses(results: str | Path | Results,
              drawn: tuple[dict | None, list[tuple]] | None = None
              ) -> tuple[dict[str, Any], dict | None, list[tuple]]:
    """What the demo's second process does after the run: ``analyze(results, quick=True)``
    and the registration's QC figures (from ``registration/faces.npz``; None if they could
    not be drawn: the report then tries again and says why) unless ``drawn`` holds them and
    their warnings already (:func:`_while_running`), and how the report will embed those
    figures, the analyses' and the bouts' (:func:`~mouseface.report.html.encode_extras`).
    Returns the analyses' summary, the figures, and the warnings raised (message, category,
    file, line) for the demo to show and record, in the order of a run that draws the QC
    figures after the analyses."""
    from mouseface import runlog
    from mouseface.report.html import encode_extras
    from mouseface.workflows.analysis import analyze

    runlog._logging.active = True  # the demo records them in run.json, from its own process
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = analyze(results, quick=True, quiet=True)
        first = _caught(caught)
        del caught[:]
        qc, qc_caught = drawn if drawn is not None else _qc_figures(str(results))
        # how the report will embed them (handed back with the rest: see _Beside.result);
        # those worked out while the run went on cost a digest
        encode_extras(str(results), ("analysis", "behaviour"), registration=qc)
    return summary, qc, first + qc_caught + _caught(caught)


#: the report's sections (:data:`~mouseface.report.html.SECTIONS`) the second process draws
#: when it is done before the demo, taken from the end (the demo draws them in order); the
#: prototypes' (from the mean faces the run holds) and the trial table's (the trials as the run
#: holds them) are the demo's own
BESIDE_SECTIONS = ("action_units", "aligned", "traces")


def _claim(folder: Path, name: str) -> bool:
    """Take ``name`` (a report section) for this process, unless the other one has: one file
    per section in ``folder``, created by whoever asks first."""
    import os

    try:
        os.close(os.open(folder / name, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def _draw_left(results: Results, claims: Path) -> tuple[dict | None, list[tuple]]:
    """The sections of :data:`BESIDE_SECTIONS` the demo has not taken yet, drawn from the
    results on disk (:func:`~mouseface.report.html.draw_figures`; None: none was left), and
    the warnings raised (see :func:`_caught`)."""
    from mouseface.report.html import draw_figures

    if all((claims / name).exists() for name in BESIDE_SECTIONS):
        return None, []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        more = draw_figures(results.path, results, results.run, registration=False,
                            sections=BESIDE_SECTIONS, claim=lambda name: _claim(claims, name))
    return (more if more["drawn"] else None), _caught(caught)


def _qc_figures(results: str | Path) -> tuple[dict | None, list[tuple]]:
    """The registration's QC figures (None if they could not be drawn) and the warnings
    raised drawing them (see :func:`_caught`)."""
    from mouseface.report.html import registration_figures

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            qc = registration_figures(results)
        except Exception:  # noqa: BLE001 - the report draws them again, with a note if it fails
            qc = None
    return qc, _caught(caught)


def _file_id(path: Path) -> tuple[int, int, int] | None:
    """What tells a file from the one it replaced (written by a rename, it has a new inode);
    None when there is none."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _while_running(results: str | Path, stdin, stale: tuple | None
                   ) -> tuple[bool, tuple[dict | None, list[tuple]] | None]:
    """Wait for ``go`` on ``stdin``; meanwhile, as soon as the run has written the
    registration's QC faces (``registration/faces.npz`` other than ``stale``, the file that
    was there before the run: the run writes it after its pass, while its last stages
    take one core), draw their figures (:func:`_qc_figures`) and work out how the report
    will embed them and the bouts' figure. Returns whether ``go`` came (not: the demo
    stopped) and the QC figures with their warnings, None if ``go`` came first."""
    import threading

    from mouseface.report.html import encode_extras

    said: list[bytes] = []
    reader = threading.Thread(target=lambda: said.append(stdin.read()), daemon=True)
    reader.start()
    faces = ResultsLayout(results).registration_faces
    drawn = None
    while reader.is_alive():
        if _file_id(faces) not in (None, stale):
            drawn = _qc_figures(results)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                encode_extras(results, ("behaviour",), registration=drawn[0])
            drawn = (drawn[0], drawn[1] + _caught(caught))
            break
        reader.join(0.1)
    reader.join()
    return said == [b"go"], drawn


def _caught(caught: list) -> list[tuple]:
    """Recorded warnings as (message, category, file, line), to cross a pickle."""
    return [(str(w.message), w.category, w.filename, w.lineno) for w in caught]


def _early(jobs: list[tuple]) -> list[tuple]:
    """Run ``(function, args)`` jobs; return the warnings they raised (see :func:`_caught`)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for func, args in jobs:
            func(*args)
    return _caught(caught)


def _beside(results: str, stdin, stdout) -> None:
    """The second process: the early jobs pickled on ``stdin`` with the registration's QC
    faces' file as it was before the run and the folder of the report sections' claims
    (``(jobs, stale, claims)``: :func:`_early`), then the QC figures once the run has written
    their faces (:func:`_while_running`), then, once ``stdin`` says ``go`` (the run is done),
    :func:`_analyses` and the report's sections the demo has not taken
    (:func:`_draw_left`); the outcome of all (an error too) pickled to ``stdout``. Leaves
    quietly when ``stdin`` ends without ``go`` (the demo stopped)."""
    import pickle
    import traceback

    try:
        # the report's figure style (matplotlib's rcParams, set by its figures module), as
        # the demo's own process has it when it draws
        import mouseface.report.html  # noqa: F401

        jobs, stale, claims = pickle.load(stdin)
        early = _early(jobs)
        import mouseface.workflows.analysis  # noqa: F401 - imported while the run goes on

        go, drawn = _while_running(results, stdin, stale)
        if not go:
            return
        from mouseface.io.results import Results
        from mouseface.report.figures import known_web_images

        res = Results(results)  # read once, for the analyses and the sections
        summary, qc, caught = _analyses(res, drawn)
        more, more_caught = _draw_left(res, Path(claims))
        out: tuple = ("ok", (summary, qc, early, caught, known_web_images(), more,
                             more_caught))
    except BaseException as exc:  # noqa: BLE001 - handed to the demo, which raises it
        out = ("error", (exc, traceback.format_exc()))
    try:
        data = pickle.dumps(out)
    except Exception:  # noqa: BLE001 - an exception that does not pickle: its text does
        data = pickle.dumps(("error", (None, out[1][1] if out[0] == "error" else repr(out))))
    stdout.write(data)


#: what the second process runs (:func:`_beside`)
_BESIDE = """
import os
import sys
from mouseface.workflows.demo import _beside
_beside(sys.argv[1], sys.stdin.buffer, sys.stdout.buffer)
sys.stdout.flush()
sys.stderr.flush()
# what it wrote is closed and handed over: the demo, which waits for this process, need
# not wait for the interpreter's teardown too (0.3-1 s of CPU with the analyses' modules)
os._exit(0)
"""


class _Beside:
    """A second Python process beside the demo (a fresh interpreter, so nothing of this
    one's threads or ``__main__`` is inherited): on entering the block it runs the ``early``
    jobs, ``(function, args)`` that need no run (the bouts' and the faces' figures), while
    the block runs the run, then the registration's QC figures as soon as the run has written
    their faces (:func:`_while_running`); after :meth:`go` the analyses (:func:`_analyses`),
    then the report's sections the demo has not claimed yet (:meth:`claim`, :func:`_draw_left`).
    :meth:`result` waits for them, re-emits their warnings here and appends the analyses' to
    ``run.json`` under ``analysis``, as the analyses run in this process would, and keeps the
    figures in :attr:`registration` and the sections in :attr:`drawn`. With ``start=False``
    the early jobs run here, on entering, and nothing else runs."""

    def __init__(self, results: Path, start: bool = True, early: list[tuple] | None = None):
        self.results = Path(results)
        self.start = start
        self.early = list(early or [])
        self.proc = None
        self._sending = None  # the thread that hands the early jobs over
        self.registration: dict | None = None  # the QC figures it drew, after result()
        self.drawn: dict | None = None  # the report's sections it drew, after result()
        self.claims: Path | None = None  # where the two claim the report's sections

    def __enter__(self) -> _Beside:
        if not self.start:
            for message, category, filename, lineno in _early(self.early):
                warnings.warn_explicit(message, category, filename, lineno)
            return self
        import os
        import pickle
        import subprocess
        import sys
        import tempfile
        import threading

        import mouseface

        # the QC faces' file as it is before the run: the child waits for the run's own
        self.claims = Path(tempfile.mkdtemp(prefix="mouseface-demo-"))
        data = pickle.dumps((self.early, _file_id(ResultsLayout(self.results)
                                                  .registration_faces), str(self.claims)))
        # the child imports this very mouseface, whatever put it on this one's path
        src = str(Path(mouseface.__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [src, *filter(None, [os.environ.get("PYTHONPATH")])])}
        self.proc = subprocess.Popen([sys.executable, "-c", _BESIDE, str(self.results)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        # in a thread: the pipe holds less than the jobs, and the child reads them only once
        # its interpreter has started
        self._sending = threading.Thread(target=self._send, args=(data,), daemon=True)
        self._sending.start()
        return self

    def _send(self, data: bytes) -> None:
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):  # the child died: result() says so
            pass

    def claim(self, section: str) -> bool:
        """Take a report section (:data:`~mouseface.report.html.SECTIONS`) for the demo's
        process, unless the second one has (always, without a second process)."""
        return self.claims is None or _claim(self.claims, section)

    def go(self) -> None:
        """The run is done: start the analyses."""
        if self.proc is None or self.proc.stdin.closed:
            return
        self._sending.join()
        try:
            self.proc.stdin.write(b"go")
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):  # the child died: result() says so
            pass

    def result(self) -> Any:
        import pickle

        from mouseface.runlog import append_warnings

        self.go()
        data = self.proc.stdout.read()
        self.proc.wait()
        self.proc = None
        try:
            status, value = pickle.loads(data)
        except Exception:
            raise RuntimeError("the demo's analyses ended without a result (see the lines "
                               "above)") from None
        if status == "error":
            exc, text = value
            raise exc if isinstance(exc, BaseException) else RuntimeError(
                f"the demo's analyses failed:\n{text}")
        from mouseface.report.figures import remember_web_images

        summary, self.registration, early, caught, images, self.drawn, drawn_caught = value
        remember_web_images(images)  # the report embeds them as they are
        for message, category, filename, lineno in early + drawn_caught:
            warnings.warn_explicit(message, category, filename, lineno)
        texts = []
        for message, category, filename, lineno in caught:
            warnings.warn_explicit(message, category, filename, lineno)
            if message not in texts:
                texts.append(message)
        append_warnings(self.results, "analysis", texts)
        return summary

    def __exit__(self, *exc) -> None:
        if self.proc is not None:  # the block failed before waiting: stop the second process
            self.proc.kill()
            self._sending.join()  # its write fails now that the child is gone
            self.proc.communicate()
        if self.claims is not None:
            import shutil

            shutil.rmtree(self.claims, ignore_errors=True)


#: signal-to-noise of the demo's coupled neurons (std of signal over std of noise)
SNR = 1.5


def _demo_population(exp, results: Path, folder: Path,
                     seed: int) -> tuple[Path, list[str]]:
    """A suite2p population imaged during every session of the demo's first animal.

    The same 60 neurons are imaged at 20 Hz during each of the animal's sessions, written as
    one suite2p folder in which the recordings follow each other (``frames_per_folder``), as
    suite2p writes several recordings of one field of view. The first neurons follow the true
    expression intensity of one state each (3 per state the animal's face shows: 18 for the
    demo's six; ground truth from the simulation), the next 5 the intensity of whichever
    expression the face shows (mixed selectivity), the 5 after them the face's measured motion
    energy (they correlate with the expressions without encoding them), the rest nothing.
    Every neuron bleaches, wanders, bursts, carries neuropil and motion artefacts.
    ``truth.json`` beside the suite2p files says which is which.
    """
    from mouseface.io.results import Results
    from mouseface.synth.neurons import (
        Population,
        simulate_population,
        write_population_suite2p,
    )

    truth = exp.truth
    animal = str(exp.sessions["animal"].iloc[0])
    sessions = [str(s) for s in exp.sessions.loc[exp.sessions["animal"] == animal, "session"]]
    # every state the animal's face shows: the stimulus conditions, and in a fear session the
    # shocks' and the spontaneous bouts' (a condition at two needs counts once)
    shown = truth.loc[truth["session"].isin(sessions), "state"].astype(str)
    conditions = sorted(set(shown) - {NEUTRAL})
    frames = Results(results).frames
    fs = 20.0
    names = [*conditions, "any_expression", "motion_energy"]
    n_cond = len(conditions)
    coupled: dict[int, int] = {3 * j + i: j for j in range(n_cond) for i in range(3)}
    coupled.update(dict.fromkeys(range(3 * n_cond, 3 * n_cond + 5), n_cond))  # any emotion
    coupled.update(dict.fromkeys(range(3 * n_cond + 5, 3 * n_cond + 10), n_cond + 1))
    pops = []
    for k, s in enumerate(sessions):
        t = truth[truth["session"] == s]
        times = np.arange(0, float(t["time"].max()), 1 / fs)
        drive = np.vstack([np.interp(times, t["time"], np.where(t["state"] == c,
                                                                 t["intensity"], 0.0))
                           for c in conditions])
        f = frames[frames["session"] == s]
        motion = np.interp(times, f["time"], np.nan_to_num(f["motion_energy"].to_numpy()))
        pops.append(simulate_population(
            np.vstack([drive, drive.sum(axis=0), motion]), times, 60, coupled, snr=SNR,
            fs=fs, seed=seed * 100 + k, names=names, burst_size=2.0, bleach_tau=1800.0,
            wander=0.03, neuropil=0.02, motion=motion, motion_artefact=0.01))
    pop = Population(np.hstack([p.traces for p in pops]),
                     np.concatenate([p.time for p in pops]), fs, pops[0].names,
                     pops[0].truth, np.hstack([p.signal for p in pops]),
                     np.hstack([p.noise for p in pops]), pops[0].params,
                     np.hstack([p.activity for p in pops]))
    write_population_suite2p(pop, folder, seed=seed,
                             frames_per_folder=[p.traces.shape[1] for p in pops])
    write_json(folder / "truth.json", {
        "sessions": sessions, "animal": animal, "n_neurons": 60, "snr": SNR,
        "coupled": {str(n): names[j] for n, j in sorted(coupled.items())}})
    return folder, sessions


def _neurons_found(results: Path, truth: dict) -> dict[str, Any]:
    """How the demo's neurons were called, against the truth.

    ``tracking`` counts neurons with a preferred expression (the groups of the correlation
    figure and the ``counts`` of the summary); ``correct`` those whose preferred expression
    is the one they follow; ``movement_as_expression`` the movement-driven neurons that the
    movement control still calls expression neurons.
    """
    neurons = pd.read_csv(ResultsLayout(results).neurons)
    per = neurons.drop_duplicates("neuron").set_index("neuron")
    coupled = {int(n): e for n, e in truth["coupled"].items()}
    expr = {n: e for n, e in coupled.items() if e != "motion_energy"}
    moving = [n for n, e in coupled.items() if e == "motion_energy"]
    pref = per["preferred_expression"].fillna("").astype(str)
    tracking = pref[pref != ""]
    # a mixed neuron is right with any emotion's expression, a specific one with its own
    correct = sum(pref.get(n, "") not in ("", NEUTRAL) if e == "any_expression"
                  else pref.get(n, "") == e for n, e in expr.items())
    out: dict[str, Any] = {"tracking": int(tracking.size), "true": len(expr),
                           "correct": int(correct),
                           "precision": correct / max(tracking.size, 1),
                           "recall": correct / max(len(expr), 1),
                           "by_expression": tracking.value_counts().to_dict()}
    if "tracks" in per.columns:
        tracks = per["tracks"].astype(str)
        out["movement_neurons"] = len(moving)
        out["movement_as_expression"] = int(tracks.loc[moving].isin(["expression",
                                                                     "both"]).sum())
        out["movement_tracked"] = int(tracks.loc[moving].isin(["movement", "both"]).sum())
    return out
