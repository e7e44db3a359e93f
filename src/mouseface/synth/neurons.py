"""Synthetic calcium imaging with known answers: neurons that follow chosen expression traces.

Works with plain arrays, so any expression trace will do (the ``sim_<p>`` columns of a results
folder resampled to imaging frames, or a hand-made drive). Coupled neurons follow their
expression through a GCaMP-like kernel; every neuron, coupled or not, carries noise shaped like
real ΔF/F: smoothed (AR(1)) fluctuations, spontaneous calcium transients, slow baseline drift
and a little white measurement noise. Uncoupled neurons are therefore autocorrelated and drift,
which is exactly what makes naive Pearson p-values call them significant.

Example
-------
>>> import numpy as np
>>> from mouseface.synth.neurons import simulate_population
>>> fs = 10.0
>>> t = np.arange(6000) / fs
>>> drive = np.vstack([np.sin(t / 7.0) ** 8, np.cos(t / 11.0) ** 8])
>>> pop = simulate_population(drive, t, 20, coupled={0: 0, 1: 1}, snr=2.0, seed=0)
>>> pop.traces.shape, pop.truth.loc[0, "expression"]
((20, 6000), 'e0')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage, signal

from mouseface._errors import InputError
from mouseface.io.neural import NeuralTraces, write_nwb, write_suite2p
from mouseface.io.tables import NEUTRAL


@dataclass(eq=False)
class Population:
    """A simulated population and its ground truth.

    Attributes
    ----------
    traces
        (neurons, frames) float32 ΔF/F.
    time
        (frames,) seconds.
    fs
        Imaging rate (Hz).
    names
        Expression names.
    truth
        One row per neuron: ``neuron``, ``coupled`` (bool), ``expression`` (name or ``""``),
        ``expression_index`` (−1 if none), ``gain`` (ΔF/F per unit z-scored expression),
        ``snr`` (std of signal / std of noise; 0 if uncoupled), ``noise_sd``.
    signal, noise
        (neurons, frames) the two components (``traces = signal + noise``, before bleaching).
    params
        The simulation settings.
    activity
        (neurons, frames) what deconvolution would recover: the non-negative drive before the
        calcium kernel (spontaneous events, plus a coupled neuron's expression drive), in the
        same ΔF/F scale.
    """

    traces: np.ndarray
    time: np.ndarray
    fs: float
    names: list[str]
    truth: pd.DataFrame
    signal: np.ndarray
    noise: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    activity: np.ndarray | None = None

    @property
    def coupled(self) -> dict[int, int]:
        """neuron index -> expression index of the coupled neurons."""
        t = self.truth[self.truth["coupled"]]
        return dict(zip(t["neuron"].astype(int), t["expression_index"].astype(int), strict=True))

    def to_traces(self, **attrs: Any) -> NeuralTraces:
        """The population as :class:`~mouseface.io.neural.NeuralTraces` (kind ``synthetic``)."""
        attrs = {"kind": "synthetic", "source": None, "neuropil": None, **attrs}
        return NeuralTraces.from_numpy(self.traces, self.time,
                                       neuron=self.truth["neuron"].to_numpy(), **attrs)


def gcamp_kernel(fs: float, tau_decay: float = 0.7, tau_rise: float = 0.05) -> np.ndarray:
    """Causal double-exponential kernel exp(−t/τd) − exp(−t/τr), unit peak, 6·τd long."""
    t = np.arange(max(2, int(np.ceil(6 * tau_decay * fs)))) / fs
    h = np.exp(-t / tau_decay) - (np.exp(-t / tau_rise) if tau_rise > 0 else 0.0)
    return h / h.max()


def _causal(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    return signal.fftconvolve(x, h[None, :], mode="full", axes=1)[:, : x.shape[1]]


def _unit(x: np.ndarray) -> np.ndarray:
    sd = x.std(axis=1, keepdims=True)
    return (x - x.mean(axis=1, keepdims=True)) / np.where(sd > 0, sd, 1.0)


def _slow_noise(rng: np.random.Generator, n: int, times: np.ndarray, tau: float) -> np.ndarray:
    """Gaussian-smoothed (sigma ``tau`` s) white noise, drawn on a coarse grid and interpolated."""
    step = max(tau / 20.0, float(np.median(np.diff(times))) if times.size > 1 else tau)
    grid = np.arange(times[0] - 4 * tau, times[-1] + 4 * tau + step, step)
    coarse = ndimage.gaussian_filter1d(rng.normal(size=(n, grid.size)), tau / step, axis=1)
    return np.stack([np.interp(times, grid, row) for row in coarse])


def simulate_population(
    expression_traces: np.ndarray,
    times: np.ndarray,
    n_neurons: int,
    coupled: dict[int, int | str] | None = None,
    *,
    snr: float = 1.0,
    fs: float | None = None,
    seed: int = 0,
    tau_decay: float = 0.7,
    tau_rise: float = 0.05,
    noise_sd: float = 0.1,
    noise_tau: float = 1.0,
    event_rate: float = 0.05,
    event_amplitude: float = 1.5,
    drift: float = 0.5,
    drift_tau: float = 60.0,
    white: float = 0.3,
    names: list[str] | None = None,
    burst_size: float = 1.0,
    bleach_tau: float | None = None,
    wander: float = 0.0,
    wander_tau: float = 20.0,
    neuropil: float = 0.0,
    motion: np.ndarray | None = None,
    motion_artefact: float = 0.0,
) -> Population:
    """Simulate ΔF/F of ``n_neurons``, some following an expression trace, the rest nothing.

    Parameters
    ----------
    expression_traces
        (expressions, frames) expression traces at the imaging rate (any scale: each is
        z-scored before use). Any drive will do: a row of face motion energy makes
        movement-driven neurons.
    times
        (frames,) imaging times (s).
    n_neurons
        Population size.
    coupled
        ``{neuron index: expression index or name}``; the other neurons follow nothing.
    snr
        Signal-to-noise of coupled neurons: std of the kernel-convolved, scaled expression over
        std of that neuron's noise, over the whole recording.
    fs
        Imaging rate; default 1 / median interval of ``times``.
    seed
        Random seed (everything is reproducible from it).
    tau_decay, tau_rise
        GCaMP-like kernel (s): 0.7 s decay is GCaMP6s-like at room temperature in vivo.
    noise_sd
        Std of each neuron's noise (ΔF/F).
    noise_tau
        Time constant (s) of the AR(1) part of the noise.
    event_rate, event_amplitude
        Spontaneous calcium transients: Poisson rate (Hz) of bursts and mean amplitude of each
        event in units of the AR noise std (exponentially distributed), through the same kernel.
    drift, drift_tau
        Slow baseline drift: std relative to the AR noise, and Gaussian smoothing (s).
    white
        White measurement noise std relative to the AR noise.
    names
        Expression names (default ``e0, e1, …``).
    burst_size
        Mean number of events per spontaneous burst (geometric; 1: single events). Events of a
        burst fall within 0.5 s, so the neuron fires in bursts as cortical neurons do.
    bleach_tau
        Photobleaching time constant (s), jittered ×0.5–1.5 per neuron: the neuron's baseline
        *and* gain decay as exp(−t/τ), and the trace is ΔF/F against the session's initial
        baseline (as a pipeline with one F0 per session reports it), so it trends down and its
        transients shrink. ``None``: no bleaching.
    wander, wander_tau
        Slow baseline wander outside the noise normalisation: std (ΔF/F) of Gaussian-smoothed
        noise with smoothing ``wander_tau`` (s), independent per neuron.
    neuropil
        Neuropil contamination: std (ΔF/F) of a signal shared by every neuron (slow background
        plus the spontaneous transients of unseen neighbours), each neuron taking it with a
        weight drawn from 0.5–1.5.
    motion, motion_artefact
        (frames,) face movement on the imaging frames (e.g. motion energy) and the size (ΔF/F
        per unit z-scored movement) of the imaging artefacts that follow it: brain motion
        during face movements changes every ROI's brightness, mostly downwards (each neuron's
        weight is drawn from N(−1, 0.5)), through no calcium kernel.

    Returns
    -------
    Population
        ``traces = signal + noise`` before bleaching; ``noise`` holds everything that is not
        the coupled signal (AR noise, transients, drift, wander, neuropil, artefacts).

    Notes
    -----
    The noise components of the original model (AR, transients, drift, white) are summed,
    then scaled so that they have std ``noise_sd``; wander, neuropil and artefacts are added
    after, in ΔF/F. The signal of a coupled neuron is ``gain · (kernel ∗ z(expression))`` with
    ``gain`` chosen so that std(signal) = ``snr`` × the std of that neuron's whole noise
    (``noise_sd`` when there is no wander, neuropil or artefact). Frames of the kernel's warm-up
    use the expression's first value (no look-ahead). With bleaching, the reported trace is
    ``b(t)·(1 + signal + noise) − 1`` with ``b(t) = exp(−t/τ)``, so ``signal`` and ``noise``
    are the unbleached components.
    """
    y = np.atleast_2d(np.asarray(expression_traces, dtype=np.float64))
    times = np.asarray(times, dtype=np.float64).ravel()
    if y.shape[1] != times.size:
        raise InputError(f"{y.shape[1]} expression frames but {times.size} times")
    if n_neurons < 1:
        raise InputError(f"n_neurons must be at least 1; got {n_neurons}")
    if not np.all(np.isfinite(y)):
        raise InputError("expression traces contain NaN; fill or cut them first")
    names = list(names) if names is not None else [f"e{j}" for j in range(y.shape[0])]
    if len(names) != y.shape[0]:
        raise InputError(f"{y.shape[0]} expression traces but {len(names)} names")
    if motion is not None:
        motion = np.asarray(motion, dtype=np.float64).ravel()
        if motion.size != times.size:
            raise InputError(f"{motion.size} motion frames but {times.size} times")
    if burst_size < 1:
        raise InputError(f"burst_size must be at least 1; got {burst_size}")
    fs = float(fs) if fs else float(1.0 / np.median(np.diff(times)))
    coupled = dict(coupled or {})
    index = {}
    for n, e in coupled.items():
        j = names.index(e) if isinstance(e, str) else int(e)
        if not 0 <= int(n) < n_neurons or not 0 <= j < y.shape[0]:
            raise InputError(f"coupling {n} -> {e} is outside {n_neurons} neurons x "
                             f"{y.shape[0]} expressions")
        index[int(n)] = j
    rng = np.random.default_rng(seed)
    n_frames = times.size
    h = gcamp_kernel(fs, tau_decay, tau_rise)

    burn = int(np.ceil(5 * noise_tau * fs))
    a = float(np.exp(-1.0 / (noise_tau * fs)))
    ar = signal.lfilter([np.sqrt(1 - a * a)], [1, -a],
                        rng.normal(size=(n_neurons, n_frames + burn)), axis=1)[:, burn:]
    spikes = _bursts(rng, n_neurons, n_frames, fs, event_rate, burst_size, event_amplitude)
    events = _causal(spikes, h)
    slow = _slow_noise(rng, n_neurons, times, drift_tau)
    noise = ar + events + drift * _unit(slow) + white * rng.normal(size=(n_neurons, n_frames))
    raw_sd = noise.std(axis=1, keepdims=True)
    noise = noise_sd * _unit(noise)
    activity = noise_sd * spikes / np.where(raw_sd > 0, raw_sd, 1.0)
    if wander:
        noise += wander * _unit(_slow_noise(rng, n_neurons, times, wander_tau))
    if neuropil:
        shared = (_unit(_slow_noise(rng, 1, times, 5.0))
                  + _unit(_causal(_bursts(rng, 1, n_frames, fs, 20 * event_rate, burst_size,
                                          event_amplitude), h)))
        noise += neuropil * rng.uniform(0.5, 1.5, (n_neurons, 1)) * _unit(shared)
    if motion is not None and motion_artefact:
        weight = rng.normal(-1.0, 0.5, (n_neurons, 1))
        noise += motion_artefact * weight * _unit(motion[None, :])

    raw = _causal(np.pad(_unit(y), ((0, 0), (h.size, 0)), mode="edge"), h)[:, h.size:]
    drive_sd = raw.std(axis=1)
    drives = _unit(raw)
    sig = np.zeros_like(noise)
    gain = np.zeros(n_neurons)
    zy = _unit(y)
    noise_total = noise.std(axis=1)  # with wander, neuropil and artefacts: the neuron's SD
    for n, j in index.items():
        gain[n] = snr * noise_total[n]
        sig[n] = gain[n] * drives[j]
        activity[n] += gain[n] / (drive_sd[j] or 1.0) * (zy[j] - zy[j].min())
    traces = sig + noise
    if bleach_tau:
        tau = bleach_tau * rng.uniform(0.5, 1.5, (n_neurons, 1))
        traces = np.exp(-(times - times[0])[None, :] / tau) * (1.0 + traces) - 1.0
    truth = pd.DataFrame({
        "neuron": np.arange(n_neurons),
        "coupled": [n in index for n in range(n_neurons)],
        "expression": [names[index[n]] if n in index else "" for n in range(n_neurons)],
        "expression_index": [index.get(n, -1) for n in range(n_neurons)],
        "gain": gain, "snr": [snr if n in index else 0.0 for n in range(n_neurons)],
        "noise_sd": noise_sd,
    })
    params = {"snr": snr, "fs": fs, "seed": seed, "tau_decay": tau_decay, "tau_rise": tau_rise,
              "noise_sd": noise_sd, "noise_tau": noise_tau, "event_rate": event_rate,
              "event_amplitude": event_amplitude, "drift": drift, "drift_tau": drift_tau,
              "white": white, "burst_size": burst_size, "bleach_tau": bleach_tau,
              "wander": wander, "wander_tau": wander_tau, "neuropil": neuropil,
              "motion_artefact": motion_artefact if motion is not None else 0.0}
    return Population(traces.astype(np.float32), times, fs, names, truth,
                      sig.astype(np.float32), noise.astype(np.float32), params,
                      activity.astype(np.float32))


def _bursts(rng: np.random.Generator, n: int, n_frames: int, fs: float, rate: float,
            size: float, amplitude: float) -> np.ndarray:
    """(n, frames) event amplitudes: Poisson bursts of geometric size within 0.5 s."""
    starts = rng.random((n, n_frames)) < rate / fs
    if size <= 1:  # single events (the draws of the original model, kept for its seeds)
        return starts * rng.exponential(amplitude, size=(n, n_frames))
    out = np.zeros((n, n_frames))
    rows, cols = np.nonzero(starts)
    counts = rng.geometric(1.0 / size, rows.size)
    rows = np.repeat(rows, counts)
    cols = np.repeat(cols, counts) + rng.integers(0, max(1, int(0.5 * fs)), counts.sum())
    keep = cols < n_frames
    np.add.at(out, (rows[keep], cols[keep]), rng.exponential(amplitude, keep.sum()))
    return out


def _trials(rng: np.random.Generator, t: np.ndarray, conditions: tuple[str, ...]):
    """Onsets every 12-30 s, random conditions and doses, and each condition's response."""
    from mouseface.synth.experiment import response

    onsets, kinds, doses = [], [], []
    on = rng.uniform(5.0, 15.0)
    while on < t[-1] - 5.0:
        onsets.append(on)
        kinds.append(str(rng.choice(list(conditions))))
        doses.append(float(rng.choice([0.25, 0.5, 0.75, 1.0])))
        on += 3.0 + rng.uniform(9.0, 27.0)
    resp = np.zeros((len(conditions), t.size))
    for on, kind, dose in zip(onsets, kinds, doses, strict=True):
        resp[conditions.index(kind)] += dose**0.5 * response(t, on, 3.0,
                                                             decay_s=rng.uniform(1.5, 4.0))
    return onsets, kinds, doses, resp


def _movement(rng: np.random.Generator, t: np.ndarray, fs: float, onsets: list[float],
              doses: list[float], resp: np.ndarray) -> np.ndarray:
    """Face motion energy: whisking bouts, onset bursts, motion while expressing."""
    n = t.size
    m = np.zeros(n)
    k = 0.0
    while True:
        k += rng.exponential(12.0)
        if k >= t[-1]:
            break
        m += rng.uniform(2.0, 6.0) * ((t >= k) & (t < k + rng.uniform(1.0, 3.0)))
    for on, dose in zip(onsets, doses, strict=True):
        m += 4.0 * dose * np.exp(-np.clip(t - on, 0, None) / 0.7) * (t >= on)
    m += 4.0 * np.abs(np.gradient(resp.sum(axis=0), t)) + 3.0 * resp.sum(axis=0)
    return ndimage.gaussian_filter1d(m, 0.1 * fs) + 0.5 + 0.1 * rng.gamma(2.0, 1.0, n)


@dataclass(eq=False)
class SimulatedSession:
    """One simulated imaging session beside a face video, with its ground truth.

    Attributes
    ----------
    time
        (frames,) imaging times (s).
    fs
        Imaging rate (Hz).
    expressions
        (expressions, frames) similarity-like expression traces on the imaging frames:
        ``neutral`` first, then one per condition.
    names
        Expression names.
    motion
        (frames,) face motion energy on the imaging frames (gray levels per pixel).
    events
        The trials: ``onset``, ``duration``, ``trial_type``, ``intensity``.
    population
        The neurons (:class:`Population`; ``truth`` says which follow what).
    """

    time: np.ndarray
    fs: float
    expressions: np.ndarray
    names: list[str]
    motion: np.ndarray
    events: pd.DataFrame
    population: Population


def simulate_session(
    minutes: float = 5.0,
    *,
    fs: float = 10.0,
    n_neurons: int = 50,
    conditions: tuple[str, ...] = ("pleasure", "disgust"),
    coupled: dict[int, int | str] | None = None,
    snr: float = 1.5,
    realistic: bool = True,
    unrelated: bool = False,
    seed: int = 0,
    **population: Any,
) -> SimulatedSession:
    """Simulate a session: trials, the face's expression traces and movement, and neurons.

    Trials of random ``conditions`` (3 s stimuli, doses 0.25–1) start every 12–30 s (jittered,
    so no shift of the traces realigns them). Each condition's expression rises and decays
    around its trials; ``neutral`` falls during every trial. All expression traces also carry
    what real similarity traces carry: frame noise, and a slow drift shared by all prototypes
    (illumination, head position) with a linear trend. Face motion energy has whisking bouts
    (about 5 per minute, independent of the trials), a movement burst at every stimulus onset
    (licking, flinching), motion while the expression changes (|d expression / dt|) and while
    it lasts (chewing, licking: proportional to the summed responses of all conditions):
    faces that express also move.

    Parameters
    ----------
    minutes
        Session length.
    fs
        Imaging rate (Hz).
    n_neurons
        Population size.
    conditions
        Stimulus conditions (each gets an expression trace).
    coupled
        ``{neuron: expression name or index}``; the name ``"motion_energy"`` (or index
        ``len(names)``) makes a neuron follow face movement instead.
    snr
        Coupled neurons' signal std over noise std (see :func:`simulate_population`).
    realistic
        Add what real recordings have (see :func:`simulate_population`): photobleaching
        (τ 30 min ×0.5–1.5), baseline wander (0.05 ΔF/F, 20 s), bursts (3 events), neuropil
        (0.03 ΔF/F) and imaging motion artefacts following the face (0.02 ΔF/F per SD). Any
        of them can be overridden through ``population``.
    unrelated
        The neurons come from another experiment: nothing in them follows this face (their
        motion artefacts follow the movement of another session, with its own trials).
        ``coupled`` must be empty.
    seed
        Random seed.
    population
        Further keywords for :func:`simulate_population`.

    Examples
    --------
    >>> s = simulate_session(2.0, n_neurons=4, coupled={0: "pleasure"}, seed=1)
    >>> s.names, s.expressions.shape, s.population.traces.shape
    (['neutral', 'pleasure', 'disgust'], (3, 1200), (4, 1200))
    """
    if minutes <= 0 or fs <= 0:
        raise InputError(f"minutes and fs must be positive; got {minutes}, {fs}")
    if unrelated and coupled:
        raise InputError("an unrelated population cannot have coupled neurons")
    rng = np.random.default_rng(seed)
    n = int(round(minutes * 60 * fs))
    t = np.arange(n) / fs
    names = [NEUTRAL, *conditions]
    onsets, kinds, doses, resp = _trials(rng, t, conditions)
    drift = (0.04 * _unit(_slow_noise(rng, 1, t, 40.0))[0]
             + rng.uniform(-0.05, 0.05) * (t - t.mean()) / max(float(np.ptp(t)), 1.0))
    frame_noise = 0.02 * _unit(_slow_noise(rng, len(names), t, 0.3))
    expr = np.vstack([0.6 - 0.3 * resp.sum(axis=0), 0.3 + 0.35 * resp])
    expr = expr + drift[None, :] + frame_noise
    motion = _movement(rng, t, fs, onsets, doses, resp)
    if unrelated:  # another animal's session: its own trials, its own face movement
        other = np.random.default_rng(seed + 10_000)
        o_on, _, o_doses, o_resp = _trials(other, t, conditions)
        artefacts = _movement(other, t, fs, o_on, o_doses, o_resp)
    else:
        artefacts = motion
    drives = np.vstack([expr, motion])
    kw: dict[str, Any] = ({"bleach_tau": 1800.0, "wander": 0.05, "wander_tau": 20.0,
                          "burst_size": 3.0, "neuropil": 0.03, "motion_artefact": 0.02}
                         if realistic else {})
    kw.update(population)
    pop = simulate_population(drives, t, n_neurons, coupled, snr=snr, fs=fs,
                              seed=seed + 1, names=[*names, "motion_energy"],
                              motion=artefacts, **kw)
    events = pd.DataFrame({"onset": onsets, "duration": 3.0, "trial_type": kinds,
                           "intensity": doses})
    return SimulatedSession(t, fs, expr, names, motion, events, pop)


def population_fluorescence(pop: Population, *, f0: float = 200.0, neuropil: float = 0.7,
                            seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Raw F and Fneu such that ``F − neuropil·Fneu = f0·(1 + ΔF/F)`` per neuron.

    Fneu is a slowly varying neuropil signal around ``f0 / 2`` (shared across neurons plus a
    little of each neuron's own), as suite2p would extract.
    """
    rng = np.random.default_rng(seed)
    n, t = pop.traces.shape
    shared = ndimage.gaussian_filter1d(rng.normal(size=t), 2 * pop.fs)
    own = ndimage.gaussian_filter1d(rng.normal(size=(n, t)), 2 * pop.fs, axis=1)
    fneu = (0.5 * f0 * (1 + 0.05 * _unit(shared[None, :]) + 0.02 * _unit(own))).astype(np.float32)
    f = (f0 * (1.0 + pop.traces.astype(np.float64)) + neuropil * fneu).astype(np.float32)
    return f, fneu


def write_population_suite2p(pop: Population, folder: str | Path, *, f0: float = 200.0,
                             neuropil: float = 0.7, n_noncells: int = 0, seed: int = 0,
                             frames_per_folder: list[int] | None = None) -> Path:
    """Write ``pop`` as a suite2p plane folder (see :func:`population_fluorescence`).

    ``n_noncells`` extra ROIs of pure noise marked ``iscell = 0`` are appended after the
    neurons, so cell filtering can be tested; cells keep their indices ``0 … n−1``.
    ``spks.npy`` holds ``pop.activity`` (zeros for the non-cells). ``frames_per_folder``
    says that the frames are several recordings back to back, as suite2p writes it when it
    registers several folders of one field of view together.
    """
    f, fneu = population_fluorescence(pop, f0=f0, neuropil=neuropil, seed=seed)
    spks = (pop.activity if pop.activity is not None else np.zeros_like(pop.traces))
    iscell = np.ones(f.shape[0])
    if n_noncells:
        rng = np.random.default_rng(seed + 1)
        extra = (f0 * (1 + 0.1 * rng.normal(size=(n_noncells, f.shape[1])))).astype(np.float32)
        f = np.vstack([f, extra])
        fneu = np.vstack([fneu, np.full_like(extra, 0.5 * f0)])
        spks = np.vstack([spks, np.zeros_like(extra)])
        iscell = np.append(iscell, np.zeros(n_noncells))
    ops: dict[str, Any] = {"mouseface_f0": f0, "mouseface_neuropil": neuropil}
    if frames_per_folder is not None:
        ops["frames_per_folder"] = np.asarray(frames_per_folder, dtype=np.int64)
    return write_suite2p(folder, f, fneu, fs=pop.fs, iscell=iscell, ops=ops, spks=spks)


def write_population_nwb(pop: Population, path: str | Path, *,
                         interface: str = "DfOverF") -> Path:
    """Write ``pop``'s ΔF/F as an NWB ``RoiResponseSeries``, with its deconvolved activity
    beside it (see :func:`write_nwb`)."""
    return write_nwb(path, pop.to_traces(), interface=interface, deconvolved=pop.activity)


__all__ = ["Population", "SimulatedSession", "gcamp_kernel", "population_fluorescence",
           "simulate_population", "simulate_session", "write_population_nwb",
           "write_population_suite2p"]
