"""A simulated head-fixed experiment: videos, sessions and events tables, and the ground truth.

Each animal gets one session per condition. A session starts with a baseline (neutral face),
then ``n_trials`` stimuli of its condition, each followed by an inter-trial interval. A stimulus
of dose ``d`` drives the condition's expression with intensity ``f(d) * r(t - onset)``, where
``r`` rises with time constant ``rise_s`` during the stimulus and decays with time constant
``decay_s`` after it (persistence), and is cut to exactly 0 once it falls below ``_CUTOFF``.

On top of the expression: spontaneous small face movements, whisking bouts, blinks, occasional
grooming (a paw over the snout), head drift and jitter, a per-session head offset and rotation,
illumination drift, sensor noise and H.264 compression. Everything is drawn from generators
seeded by ``(seed, animal number, session name)``, so a seed always gives the same truth and
the same decoded frames, whatever the number of worker processes or the order of the
conditions.

**Needs.** ``needs={"pleasure": {"thirsty": 1.0, "sated": 0.5}}`` gives a condition one session
per need level (``m01_pleasure_thirsty``, ``m01_pleasure_sated``), its expression amplitude
scaled by the level's factor, and the level in the events column ``need_column``: the same
stimulus under changing needs (Dolensek et al. 2020: sucrose in thirsty vs sated mice).

**Fear context.** ``fear=True`` adds one session per animal (``m01_fear``) whose frame shows the
body on a running wheel below the face (:mod:`mouseface.synth.behaviour`; regions in the
sessions table's ``roi_body`` and ``roi_wheel``). After a baseline come ``fear_shocks`` shocks
(events of condition ``fear_stimulus``, with a startle of the body), then the fear context: a
random order of spontaneous freezing (``passive_fear``) and escape (``active_fear``) bouts and of
confounds (grooming, brief stillness, stillness while whisking), with small posture changes and
wheel steps between them. The face shows the passive- or active-fear state during the bouts.
None of the bouts is in the events table: ``Experiment.bouts`` (``truth_bouts.csv``) has them.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mouseface._atomic import atomic_path
from mouseface.io.video import write_video
from mouseface.synth import behaviour as _behaviour
from mouseface.synth.animals import Animal, make_animal
from mouseface.synth.face import KEYPOINTS, FaceRenderer, Paw, Pose, label_keypoints
from mouseface.synth.states import ACTIONS, STATES

DEFAULT_CONDITIONS = ("pleasure", "disgust", "malaise", "pain", "passive_fear")
DEFAULT_DOSES = (0.25, 0.5, 0.75, 1.0)
_NOISE_BANK = 32  # sensor-noise fields per session (shifted at random every frame)
_CUTOFF = 0.03  # response fraction below which the expression is over (intensity exactly 0)

#: spontaneous fluctuation of each action around its value (standard deviation)
_SPONTANEOUS = {"ear_angle": 1.5, "ear_flat": 0.02, "eye_open": 0.04, "nose_down": 1.0,
                "nose_forward": 0.01, "whisker_angle": 2.5, "jaw_open": 0.015,
                "cheek_bulge": 0.03, "nose_bulge": 0.03}


@dataclass
class Experiment:
    """What ``simulate_experiment`` wrote, with the tables already loaded.

    ``truth`` has one row per frame: session, animal, frame, time, state, intensity (the
    true expression intensity, 0 for neutral), condition (the session's condition), dose,
    occluded (paw over the face), blink (eye closure 0-1), dx, dy, rotation (head pose, see
    ``mouseface.synth.face`` for the convention), behaviour (``normal``, or the fear-context
    item or grooming the frame is in), wheel_speed (pixels/s, fear sessions).
    ``bouts`` has one row per behaviour item of the fear sessions: session, animal, behaviour
    (``passive_fear``, ``active_fear``, ``grooming``, ``brief_stillness``,
    ``whisking_stillness``, ``posture``, ``startle``), onset, duration (s).
    """

    sessions_path: Path
    events_path: Path
    truth_path: Path
    sessions: pd.DataFrame
    events: pd.DataFrame
    truth: pd.DataFrame
    out: Path = field(default_factory=Path)
    animals: dict[str, Animal] = field(default_factory=dict)
    bouts: pd.DataFrame = field(default_factory=pd.DataFrame)
    bouts_path: Path | None = None


@dataclass(frozen=True)
class _SessionPlan:
    session: str
    animal_id: str
    animal: Animal
    condition: str
    video: Path
    onsets: tuple[float, ...]
    doses: tuple[float, ...]
    amplitudes: tuple[float, ...]
    entropy: tuple[int, ...]
    n_frames: int = 0
    items: tuple[tuple[str, float, float], ...] = ()  # fear context: (kind, onset, duration)


def default_dose_response(dose: float) -> float:
    """Expression amplitude for a dose: ``dose ** 0.7`` (a compressive power law: monotone,
    0 at 0 and 1 at 1), so that a quarter dose still shows 38 % of the full expression."""
    return max(float(dose), 0.0) ** 0.5


def response(t: np.ndarray, onset: float, duration: float, *, rise_s: float = 0.5,
             decay_s: float = 2.5) -> np.ndarray:
    """Time course of one stimulus response (peak 1 for a long stimulus).

    Rises as ``1 - exp(-(t - onset) / rise_s)`` during the stimulus, then decays as
    ``exp(-(t - offset) / decay_s)`` from the value reached at stimulus offset; values below
    ``_CUTOFF`` are set to exactly 0.
    """
    tau = np.asarray(t, dtype=np.float64) - onset
    r = np.zeros_like(tau)
    on = (tau >= 0) & (tau <= duration)
    r[on] = 1.0 - np.exp(-tau[on] / rise_s)
    after = tau > duration
    peak = 1.0 - math.exp(-duration / rise_s)
    r[after] = peak * np.exp(-(tau[after] - duration) / decay_s)
    r[r < _CUTOFF] = 0.0
    return r


def simulate_experiment(out: str | Path, n_animals: int = 4,
                        conditions: Sequence[str] = DEFAULT_CONDITIONS, n_trials: int = 6,
                        fps: float = 20.0, seed: int = 0, size: tuple[int, int] = (160, 160), *,
                        baseline_s: float = 10.0, stimulus_s: float = 3.0, iti_s: float = 9.0,
                        doses: Sequence[float] = DEFAULT_DOSES, dose_column: str = "intensity",
                        dose_response: Callable[[float], float] | None = None,
                        rise_s: float = 0.5, decay_s: float = 2.5, noise_std: float = 2.5,
                        jitter_px: float = 0.1, drift_px: float = 0.3,
                        session_shift_px: float = 1.5, session_rotation_deg: float = 1.0,
                        spontaneous: float = 1.0, whisking: bool = True, blinks: bool = True,
                        grooming_per_min: float = 0.5, illumination: float = 0.04,
                        crf: int = 18, preset: str = "ultrafast", workers: int | None = None,
                        on_progress: Callable[[int, int], None] | None = None,
                        needs: Mapping[str, Mapping[str, float]] | None = None,
                        need_column: str = "need", fear: bool = False, fear_shocks: int = 3,
                        fear_stimulus: str = "pain",
                        fear_items: Mapping[str, int] | None = None,
                        keypoints: bool = False, keypoint_noise_px: float | None = None,
                        keypoint_dropout: float = 0.05,
                        while_rendering: Callable[[], None] | None = None) -> Experiment:
    """Simulate a head-fixed experiment and write it to ``out``.

    Writes ``out/videos/<session>.mp4`` (H.264, one per animal and condition),
    ``out/sessions.csv`` (session, video, animal, roi, fps, and the animal's sex, age, species
    and strain; with ``fear`` the body's regions), ``out/events.csv`` (session, onset,
    duration, trial_type, ``dose_column``) and ``out/truth.parquet`` (one row per frame).

    Parameters
    ----------
    out
        Output folder (created).
    n_animals
        Number of animals; each has its own face (``make_animal``).
    conditions
        Stimulus conditions, each a state of ``STATES`` other than neutral; one session per
        animal and condition (none with ``fear``: fear sessions only).
    n_trials
        Stimuli per session.
    fps
        Frame rate.
    seed
        Seed; the same seed gives the same truth and the same decoded frames.
    size
        ``(height, width)`` of the video.
    baseline_s, stimulus_s, iti_s
        Baseline before the first stimulus, stimulus duration, and interval from the end of a
        stimulus to the next onset (the last interval closes the session).
    doses
        Dose levels; each session's trials cycle through them in a random order.
    dose_column
        Events column that holds the dose.
    dose_response
        Expression amplitude as a monotone function of the dose; default
        ``default_dose_response`` (``dose ** 0.7``).
    rise_s, decay_s
        Time constants of the response's rise and decay (persistence).
    noise_std
        Sensor noise (gray levels).
    jitter_px, drift_px
        Head jitter (per frame) and slow drift (standard deviations in pixels).
    session_shift_px, session_rotation_deg
        Largest head offset (pixels) and rotation (degrees) of a session relative to the
        canonical placement (drawn uniformly); recorded per frame in the truth.
    spontaneous
        Scale of the spontaneous face movements (0 for none).
    whisking, blinks
        Whether to simulate whisking bouts and blinks.
    grooming_per_min
        Rate of grooming bouts (a paw over the snout, marked ``occluded`` in the truth). A bout
        that would overlap a stimulus response is left out: the mice groom at baseline and
        between trials.
    illumination
        Relative amplitude of the slow illumination drift.
    crf
        H.264 constant rate factor.
    preset
        x264 speed preset. ``"ultrafast"`` (the default) encodes several times as fast as
        ``"veryfast"`` for larger files at the same ``crf``; ``crf=21`` then gives files about
        the size of ``"veryfast"`` at 18 (the demo's choice; ``benchmarks/synth_render.py``
        times it).
    workers
        Processes for rendering; default ``min(2, cpu count, sessions)``. Does not change the
        result.
    on_progress
        Called as ``on_progress(frames_done, frames_total)`` before the first video and each
        time a session's video is written (a progress bar's hook).
    needs
        Condition -> {need level: amplitude factor}: one session per level of that condition,
        its expression amplitude times the factor (see the module notes).
    need_column
        Events column holding the need level (empty for the other conditions).
    fear
        Add a fear-context session per animal (see the module notes).
    fear_shocks
        Shocks at the start of the fear session (at least 1: the first starts the context).
    fear_stimulus
        The shocks' condition (their ``trial_type`` and the face they cause).
    fear_items
        Behaviour kind -> count in each fear context; default
        ``mouseface.synth.behaviour.FEAR_ITEMS`` (3 freezing, 3 escape, 2 grooming, 2 brief
        stillness, 2 stillness while whisking).
    keypoints
        Also write the face keypoints the renderer draws on every frame, as a tracker would
        give them (:func:`mouseface.synth.face.label_keypoints`), to
        ``out/keypoints/<session>_FacemapPose.h5`` (Facemap's layout), named by a ``poses`` column
        of the sessions table: ``run`` then measures the facial action units.
    keypoint_noise_px
        Label noise per coordinate; default ``1.5 px`` on a 256-px face, scaled to ``size``.
    keypoint_dropout
        Fraction of points lost (misplaced, likelihood below 0.5).
    while_rendering
        Called once in this process, once the worker processes have started and while they
        render (before rendering with one worker): work of the caller's own that needs no
        video, such as compiling the kernels that will read them.

    Returns
    -------
    Experiment

    Raises
    ------
    ValueError
        On an unknown condition, a non-positive count or duration, or an odd frame size.
    """
    conditions = tuple(conditions)
    unknown = sorted(set(conditions) - set(STATES))
    if unknown:
        raise ValueError(f"unknown conditions {unknown}; known states: {sorted(STATES)}")
    if "neutral" in conditions:
        raise ValueError("'neutral' is the baseline, not a condition; leave it out of conditions")
    if len(set(conditions)) != len(conditions) or not (conditions or fear):
        raise ValueError(f"conditions must be distinct and at least one (or fear=True), got "
                         f"{conditions}")
    if n_animals < 1 or n_trials < 1 or fps <= 0:
        raise ValueError("n_animals and n_trials must be >= 1 and fps > 0")
    if min(baseline_s, stimulus_s, iti_s) < 0 or stimulus_s == 0:
        raise ValueError("baseline_s and iti_s must be >= 0 and stimulus_s > 0")
    size = (int(size[0]), int(size[1]))
    if size[0] % 2 or size[1] % 2 or min(size) < 32:
        raise ValueError(f"size must be even and at least 32 x 32 (H.264 4:2:0), got {size}")
    needs = {str(c): {str(k): float(v) for k, v in levels.items()}
             for c, levels in (needs or {}).items()}
    if set(needs) - set(conditions) or any(not lv for lv in needs.values()):
        raise ValueError(f"needs must map conditions among {conditions} to at least one level, "
                         f"got {needs}")
    if fear and (fear_stimulus not in STATES or fear_stimulus == "neutral" or fear_shocks < 1):
        raise ValueError(f"fear needs fear_shocks >= 1 and a fear_stimulus among the states, "
                         f"got {fear_shocks} shocks of {fear_stimulus!r}")

    out = Path(out)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    f_dose = dose_response or default_dose_response

    animals = {f"m{a + 1:02d}": make_animal(np.random.default_rng([seed, a, 0]))
               for a in range(n_animals)}
    trial_s = stimulus_s + iti_s
    n_frames = int(round((baseline_s + n_trials * trial_s) * fps))
    plans, events = [], []
    for a, (aid, animal) in enumerate(animals.items()):
        specs = []  # (session suffix, condition, shocks, need level, amplitude factor)
        for cond in conditions:
            levels = needs.get(cond)
            if levels:
                specs += [(f"{cond}_{lv}", cond, n_trials, lv, f) for lv, f in levels.items()]
            else:
                specs.append((cond, cond, n_trials, None, 1.0))
        if fear:
            specs.append(("fear", fear_stimulus, fear_shocks, None, 1.0))
        for suffix, cond, k_trials, level, factor in specs:
            sid = f"{aid}_{suffix}"
            key = zlib.crc32(suffix.encode())  # a session's randomness depends on its name only
            rng = np.random.default_rng([seed, a, key, 0])
            levels = np.tile(np.asarray(doses, dtype=float), math.ceil(k_trials / len(doses)))
            trial_doses = tuple(float(d) for d in rng.permutation(levels)[:k_trials])
            onsets = tuple(baseline_s + k * trial_s for k in range(k_trials))
            items: tuple = ()
            n = n_frames
            if suffix == "fear":
                planned, end = _behaviour.plan_items(rng, baseline_s + k_trials * trial_s,
                                                     fear_items)
                items = tuple(planned)
                n = int(round(end * fps))
            plans.append(_SessionPlan(sid, aid, animal, cond, out / "videos" / f"{sid}.mp4",
                                      onsets, trial_doses,
                                      tuple(factor * float(f_dose(d)) for d in trial_doses),
                                      (seed, a, key), n, items))
            events += [{"session": sid, "onset": round(o, 6), "duration": stimulus_s,
                        "trial_type": cond, dose_column: d,
                        **({need_column: level} if needs else {})}
                       for o, d in zip(onsets, trial_doses, strict=True)]

    opts = dict(fps=fps, size=size, n_frames=n_frames, stimulus_s=stimulus_s,
                rise_s=rise_s, decay_s=decay_s, noise_std=noise_std,
                jitter_px=jitter_px, drift_px=drift_px, session_shift_px=session_shift_px,
                session_rotation_deg=session_rotation_deg, spontaneous=spontaneous,
                whisking=whisking, blinks=blinks, grooming_per_min=grooming_per_min,
                illumination=illumination, crf=crf, preset=preset, keypoints=keypoints,
                keypoint_noise_px=(1.5 * min(size) / 256 if keypoint_noise_px is None
                                   else float(keypoint_noise_px)),
                keypoint_dropout=float(keypoint_dropout))
    if workers is None:
        workers = min(2, os.cpu_count() or 1, len(plans))
    # the longest sessions first, so that the workers finish together
    order = sorted(range(len(plans)), key=lambda i: -plans[i].n_frames)
    total = sum(p.n_frames for p in plans)
    report = on_progress or (lambda done, total: None)
    report(0, total)
    truths: list = [None] * len(plans)
    frames_done = 0
    if workers > 1:
        # compiled (or loaded from Numba's cache) here, once: the forked workers inherit them
        # instead of each compiling the same kernels at the same time
        load_kernels(size, fear)
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_simulate_session, plans[i], opts): i for i in order}
            if while_rendering is not None:  # the workers are forked by now
                while_rendering()
            for future in as_completed(futures):
                i = futures[future]
                truths[i] = future.result()  # a failed session stops here, before it counts
                frames_done += plans[i].n_frames
                report(frames_done, total)
    else:
        if while_rendering is not None:
            while_rendering()
        for i in order:
            truths[i] = _simulate_session(plans[i], opts)
            frames_done += plans[i].n_frames
            report(frames_done, total)

    sessions = pd.DataFrame({
        "session": [p.session for p in plans],
        "video": [p.video.relative_to(out).as_posix() for p in plans],
        "animal": [p.animal_id for p in plans],
        "roi": f"0,0,{size[1]},{size[0]}",
        "fps": float(fps),
    })
    if keypoints:
        sessions["poses"] = [_pose_path(p).relative_to(out).as_posix() for p in plans]
    if fear:
        for name, roi in _behaviour.body_regions(size).items():
            sessions[f"roi_{name}"] = [",".join(map(str, roi)) if _is_fear(p) else ""
                                       for p in plans]
    # the subject metadata an archive asks for (DANDI: sex, age, species), as a lab's sessions
    # table carries it: `export-nwb` writes it into each file's Subject
    order = {a: i for i, a in enumerate(dict.fromkeys(sessions["animal"]))}
    sessions["sex"] = [("F", "M")[order[a] % 2] for a in sessions["animal"]]
    sessions["age"] = [f"P{84 + 7 * order[a]}D" for a in sessions["animal"]]
    sessions["species"] = "Mus musculus"
    sessions["strain"] = "C57BL/6J"
    columns = ["session", "onset", "duration", "trial_type", dose_column]
    events = pd.DataFrame(events, columns=columns + ([need_column] if needs else []))
    truth = pd.concat([t for t, _ in truths], ignore_index=True)
    bouts = pd.concat([b for _, b in truths], ignore_index=True)
    paths = out / "sessions.csv", out / "events.csv", out / "truth.parquet"
    with atomic_path(paths[0]) as tmp:
        sessions.to_csv(tmp, index=False)
    with atomic_path(paths[1]) as tmp:
        events.to_csv(tmp, index=False)
    with atomic_path(paths[2]) as tmp:
        truth.to_parquet(tmp, index=False)
    bouts_path = None
    if fear:
        bouts_path = out / "truth_bouts.csv"
        with atomic_path(bouts_path) as tmp:
            bouts.to_csv(tmp, index=False)
    return Experiment(*paths, sessions, events, truth, out=out, animals=animals, bouts=bouts,
                      bouts_path=bouts_path)


def load_kernels(size: tuple[int, int] = (32, 32), body: bool = True) -> None:
    """Compile the renderer's Numba kernels, or load them from Numba's on-disk cache: draw one
    face of ``size`` (and, with ``body``, one strip of the body below it, as the fear sessions
    do), with the same argument types as :func:`simulate_experiment`'s frames. Processes
    forked after it (its rendering workers) inherit the compiled kernels."""
    animal = Animal()
    face = FaceRenderer(animal, size)
    face.render(dict(ACTIONS))
    if body:
        from mouseface.synth.face import _background

        _behaviour.BodyRenderer(animal, size[1], _background(
            animal.seed, *size, float(animal.background))).render()


# ---------------------------------------------------------------------------------------------
# one session


def _ou(rng: np.random.Generator, n: int, dt: float, tau: float, sd: float) -> np.ndarray:
    """Ornstein-Uhlenbeck process (stationary, standard deviation ``sd``)."""
    a = math.exp(-dt / tau)
    e = rng.standard_normal(n) * sd * math.sqrt(1 - a * a)
    x = np.empty(n)
    x[0] = rng.standard_normal() * sd
    for i in range(1, n):
        x[i] = a * x[i - 1] + e[i]
    return x


def _bouts(rng: np.random.Generator, t: np.ndarray, per_min: float, dur: tuple[float, float],
           ramp: float, blocked: np.ndarray | None = None) -> tuple[np.ndarray, list[float]]:
    """Poisson bouts: an envelope 0..1 with linear ramps, and the bout starts. Bouts that would
    overlap a ``blocked`` frame are left out."""
    env = np.zeros_like(t)
    starts = []
    total = t[-1] + 1.0 / max(len(t), 1)
    s = rng.exponential(60.0 / per_min) if per_min > 0 else np.inf
    while s < total:
        d = rng.uniform(*dur)
        e = np.clip(np.minimum(t - s, s + d - t) / ramp, 0.0, 1.0)
        if blocked is None or not np.any(blocked & (e > 0)):
            starts.append(s)
            env = np.maximum(env, e)
        s += d + rng.exponential(60.0 / per_min)
    return env, starts


def _pose_path(plan: _SessionPlan) -> Path:
    """Where a session's keypoints go (``keypoints=True``): beside the videos' folder."""
    return plan.video.parent.parent / "keypoints" / f"{plan.session}_FacemapPose.h5"


def _is_fear(plan: _SessionPlan) -> bool:
    return plan.session == f"{plan.animal_id}_fear"


def _simulate_session(plan: _SessionPlan, o: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Render and encode one session; return its truth table and its behaviour items."""
    fps = o["fps"]
    n = plan.n_frames or o["n_frames"]
    dt = 1.0 / fps
    t = np.arange(n) / fps
    ss = np.random.SeedSequence(list(plan.entropy))
    r_face, r_pose, r_light, r_noise, r_misc, r_body = (np.random.default_rng(s)
                                                         for s in ss.spawn(6))
    animal = plan.animal
    fear = _is_fear(plan)

    # expression intensity of each state
    inten = np.zeros(n)
    for onset, amp in zip(plan.onsets, plan.amplitudes, strict=True):
        inten += amp * response(t, onset, o["stimulus_s"], rise_s=o["rise_s"],
                                decay_s=o["decay_s"])
    inten = np.clip(inten, 0.0, None)
    dose_t = np.zeros(n)
    for onset, dose in zip(plan.onsets, plan.doses, strict=True):
        dose_t[(t >= onset) & (inten > 0)] = dose
    states = {plan.condition: inten}
    sig = None
    if fear:
        sig = _behaviour.body_signals(t, plan.items, r_body, startles=plan.onsets)
        for kind in ("passive_fear", "active_fear"):
            x = np.zeros(n)
            for k, onset, duration in plan.items:
                if k == kind:
                    x += r_body.uniform(0.75, 1.0) * response(t, onset, duration, rise_s=0.35,
                                                              decay_s=0.5)
            states[kind] = np.clip(x, 0.0, 1.0)

    # face actions: neutral + intensity * delta + spontaneous movement
    names = list(ACTIONS)
    act = np.tile(np.array([ACTIONS[k] for k in names]), (n, 1))
    calm = 1.0 - 0.85 * sig.face_quiet if sig is not None else 1.0
    for j, k in enumerate(names):
        for state, x in states.items():
            act[:, j] += x * STATES[state].get(k, 0.0)
        sd = _SPONTANEOUS.get(k, 0.0) * o["spontaneous"]
        if sd > 0:
            act[:, j] += _ou(r_face, n, dt, 1.5, sd) * calm
    col = {k: j for j, k in enumerate(names)}

    # whisking bouts (amplitude scaled by the 'whisking' action) and blinks
    if o["whisking"]:
        env, _ = _bouts(r_misc, t, 8.0, (1.0, 3.0), 0.3)
        if sig is not None:  # forced on while whisking still or running, off when quiet
            env = np.maximum(env, np.maximum(sig.whisk, sig.gait)) * (1.0 - sig.face_quiet)
        phase = 2 * np.pi * animal.whisk_hz * t + r_misc.uniform(0, 2 * np.pi)
        amp = 5.0 * np.clip(act[:, col["whisking"]], 0.0, None)
        if sig is not None:  # exploratory whisking while the body is still: twice as wide
            amp = amp * (1.0 + sig.whisk)
        act[:, col["whisker_angle"]] += amp * env * np.sin(phase)
    blink = np.zeros(n)
    if o["blinks"]:
        k = r_misc.poisson(animal.blink_per_min * t[-1] / 60.0 + 1e-9)
        for tb in r_misc.uniform(0, t[-1], k):
            blink = np.maximum(blink, np.exp(-0.5 * ((t - tb) / 0.07) ** 2))
        blink[blink < 0.05] = 0.0
        act[:, col["eye_open"]] *= 1.0 - blink

    # grooming: a paw over the snout, never while the face responds to a stimulus; in a fear
    # session the planned grooming bouts only
    if sig is None:
        paw_amt, starts = _bouts(r_misc, t, o["grooming_per_min"], (0.8, 2.0), 0.2,
                                 blocked=inten > 0)
    else:
        paw_amt = sig.groom
        starts = [on for kind, on, _ in plan.items if kind == "grooming"]
    paw_x = np.zeros(n)
    paw_y = np.zeros(n)
    for s in starts:
        m = t >= s
        paw_x[m] = r_misc.uniform(-0.06, 0.04)
        paw_y[m] = r_misc.uniform(-0.05, 0.03)
    wobble = 0.01 * np.sin(2 * np.pi * 3.0 * t)

    # head pose: session offset + slow drift + jitter (more while running)
    sh, sr = o["session_shift_px"], o["session_rotation_deg"]
    off = r_pose.uniform(-sh, sh, 2) if sh > 0 else np.zeros(2)
    rot0 = r_pose.uniform(-sr, sr) if sr > 0 else 0.0
    dpx, jpx = o["drift_px"], o["jitter_px"]
    # a running mouse shakes its head (head-fixed, a little); a freezing one holds it still
    shake = (1.0 + 3.0 * sig.gait) * (1.0 - 0.7 * sig.face_quiet) if sig is not None else 1.0
    dx = off[0] + _ou(r_pose, n, dt, 8.0, dpx) + r_pose.standard_normal(n) * jpx * shake
    dy = off[1] + _ou(r_pose, n, dt, 8.0, dpx) + r_pose.standard_normal(n) * jpx * shake
    rot = rot0 + _ou(r_pose, n, dt, 8.0, 0.4 * dpx) + r_pose.standard_normal(n) * 0.1 * jpx

    # illumination
    il = o["illumination"]
    gain = 1.0 + il * np.clip(_ou(r_light, n, dt, 20.0, 1.0), -2.5, 2.5)
    gx = il * _ou(r_light, n, dt, 30.0, 1.0)
    gy = il * _ou(r_light, n, dt, 30.0, 1.0)
    offset = 40.0 * il * _ou(r_light, n, dt, 25.0, 1.0)

    size = o["size"]
    renderer = FaceRenderer(animal, size)
    ns = float(o["noise_std"])
    # sensor noise: a bank of independent fields, each frame one of them circularly shifted
    bank = (r_noise.standard_normal((_NOISE_BANK, *size), dtype=np.float32)
            * np.float32(ns)) if ns > 0 else None
    pick = r_noise.integers(0, _NOISE_BANK, n)
    shifts = r_noise.integers(0, max(size), (n, 2))
    body = strip = None
    if sig is not None:
        from mouseface.synth.face import _background

        body = _behaviour.BodyRenderer(animal, size[1],
                                       _background(animal.seed, *size, float(animal.background)))
        strip = _behaviour.strip_frames(body, t, sig, r_body)
        sbank = (r_body.standard_normal((_NOISE_BANK, 2 * body.height, size[1]),
                                        dtype=np.float32) * np.float32(ns)) if ns > 0 else None
        spick = r_body.integers(0, _NOISE_BANK, n)
        srow = r_body.integers(0, body.height, n)

    kp = np.empty((n, len(KEYPOINTS), 2)) if o["keypoints"] else None

    def frames() -> Iterator[np.ndarray]:
        buf = np.empty((size[0] + (body.height if body else 0), size[1]), np.uint8)
        face_out = buf[:size[0]]
        # each frame's numbers as Python floats, taken from the arrays once
        acts = act.tolist()
        poses = [Pose(*p) for p in zip(dx.tolist(), dy.tolist(), rot.tolist(), strict=True)]
        paws = [Paw(*p) for p in zip(paw_amt.tolist(), paw_x.tolist(),
                                     (paw_y + wobble).tolist(), strict=True)]
        light = list(zip(gain.tolist(), zip(gx.tolist(), gy.tolist(), strict=True),
                         offset.tolist(), strict=True))
        noises = [None] * n if bank is None else [bank[j] for j in pick.tolist()]
        noise_shifts = list(map(tuple, shifts.tolist()))
        if body is not None:
            grooms_x = ((0.627 + paw_x) * min(size) + (size[1] - min(size)) / 2 + dx).tolist()
            strips = list(zip(*(s.tolist() for s in strip), sig.gait.tolist(),
                              sig.groom.tolist(), grooms_x, strict=True))
        for i in range(n):
            g, gradient, off = light[i]
            face = renderer.render(
                dict(zip(names, acts[i], strict=True)), pose=poses[i], paw=paws[i], gain=g,
                gradient=gradient, offset=off, noise=noises[i], noise_shift=noise_shifts[i],
                out=face_out, keypoints=None if kp is None else kp[i])
            if body is None:
                yield face
                continue
            wheel, gait_phase, groom_phase, breath, gait, groom, groom_x = strips[i]
            body.render(
                wheel_angle=wheel, gait_phase=gait_phase, gait=gait, groom=groom,
                groom_phase=groom_phase, breath=breath, groom_x=groom_x,
                torso=sig.torso[i], limbs=sig.limbs[i], gain=g, gradient=gradient,
                offset=off, noise=None if sbank is None else
                sbank[spick[i], srow[i]:srow[i] + body.height], face_height=size[0],
                out=buf[size[0]:])
            yield buf

    # ultrafast by default: a quarter of veryfast's encoding time at the same crf (quality); a
    # keyframe every 2 s, as camera recorders often write, so seeking to a baseline window is
    # cheap
    write_video(plan.video, frames(), fps, crf=o["crf"], preset=o["preset"],
                keyframe_interval=max(1, int(round(2 * fps))))
    if kp is not None:  # as a tracker gives them: label noise, lost points
        from mouseface.io.poses import to_facemap_file

        r_kp = np.random.default_rng(ss.spawn(1)[0])  # after the six above
        xy, like = label_keypoints(kp, r_kp, noise_px=o["keypoint_noise_px"],
                                   dropout=o["keypoint_dropout"])
        to_facemap_file(_pose_path(plan), xy, list(KEYPOINTS), like)

    stack = np.vstack([states[k] for k in states])
    top = stack.argmax(axis=0)
    value = stack[top, np.arange(n)]
    state = np.where(value > 0, np.array(list(states), dtype=object)[top], "neutral")
    behaviour = (sig.behaviour if sig is not None
                 else np.where(paw_amt > 0, "grooming", "normal"))
    truth = pd.DataFrame({
        "session": plan.session, "animal": plan.animal_id, "frame": np.arange(n),
        "time": t, "state": state.astype(str), "intensity": value, "condition": plan.condition,
        "dose": dose_t, "occluded": paw_amt > 0.25, "blink": blink,
        "dx": dx, "dy": dy, "rotation": rot, "behaviour": behaviour,
        "wheel_speed": sig.wheel_speed if sig is not None else np.zeros(n),
    })
    rows = []
    if sig is not None:
        rows = [(k, on, d) for k, on, d in plan.items]
        rows += [("posture", on, 0.45) for on in sig.posture_onsets]
        rows += [("startle", on, 0.6) for on in plan.onsets]
    bouts = pd.DataFrame(sorted(rows, key=lambda r: r[1]),
                         columns=["behaviour", "onset", "duration"])
    bouts.insert(0, "animal", plan.animal_id)
    bouts.insert(0, "session", plan.session)
    return truth, bouts
