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
        (neurons, frames) the two components (``traces = signal + noise``).
    params
        The simulation settings.
    """

    traces: np.ndarray
    time: np.ndarray
    fs: float
    names: list[str]
    truth: pd.DataFrame
    signal: np.ndarray
    noise: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

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
) -> Population:
    """Simulate ΔF/F of ``n_neurons``, some following an expression trace, the rest nothing.

    Parameters
    ----------
    expression_traces
        (expressions, frames) expression traces at the imaging rate (any scale: each is
        z-scored before use).
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
        Spontaneous calcium transients: Poisson rate (Hz) and mean amplitude in units of the
        AR noise std (exponentially distributed), through the same kernel.
    drift, drift_tau
        Slow baseline drift: std relative to the AR noise, and Gaussian smoothing (s).
    white
        White measurement noise std relative to the AR noise.
    names
        Expression names (default ``e0, e1, …``).

    Returns
    -------
    Population
        ``traces = signal + noise``; the noise of every neuron is rescaled to std ``noise_sd``.

    Notes
    -----
    Noise components are summed, then scaled so each neuron's noise has std ``noise_sd``; the
    signal of a coupled neuron is ``gain · (kernel ∗ z(expression))`` with ``gain`` chosen so
    that std(signal) = ``snr · noise_sd``. Frames of the kernel's warm-up use the expression's
    first value (no look-ahead).
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
    spikes = (rng.random((n_neurons, n_frames)) < event_rate / fs) * rng.exponential(
        event_amplitude, size=(n_neurons, n_frames))
    events = _causal(spikes, h)
    slow = _slow_noise(rng, n_neurons, times, drift_tau)
    noise = ar + events + drift * _unit(slow) + white * rng.normal(size=(n_neurons, n_frames))
    noise = noise_sd * _unit(noise)

    drives = _causal(np.pad(_unit(y), ((0, 0), (h.size, 0)), mode="edge"), h)[:, h.size:]
    drives = _unit(drives)
    sig = np.zeros_like(noise)
    gain = np.zeros(n_neurons)
    for n, j in index.items():
        gain[n] = snr * noise_sd
        sig[n] = gain[n] * drives[j]
    traces = (sig + noise).astype(np.float32)
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
              "white": white}
    return Population(traces, times, fs, names, truth, sig.astype(np.float32),
                      noise.astype(np.float32), params)


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
                             neuropil: float = 0.7, n_noncells: int = 0,
                             seed: int = 0) -> Path:
    """Write ``pop`` as a suite2p plane folder (see :func:`population_fluorescence`).

    ``n_noncells`` extra ROIs of pure noise marked ``iscell = 0`` are appended after the
    neurons, so cell filtering can be tested; cells keep their indices ``0 … n−1``.
    """
    f, fneu = population_fluorescence(pop, f0=f0, neuropil=neuropil, seed=seed)
    iscell = np.ones(f.shape[0])
    if n_noncells:
        rng = np.random.default_rng(seed + 1)
        extra = (f0 * (1 + 0.1 * rng.normal(size=(n_noncells, f.shape[1])))).astype(np.float32)
        f = np.vstack([f, extra])
        fneu = np.vstack([fneu, np.full_like(extra, 0.5 * f0)])
        iscell = np.append(iscell, np.zeros(n_noncells))
    return write_suite2p(folder, f, fneu, fs=pop.fs, iscell=iscell,
                         ops={"mouseface_f0": f0, "mouseface_neuropil": neuropil})


def write_population_nwb(pop: Population, path: str | Path, *,
                         interface: str = "DfOverF") -> Path:
    """Write ``pop``'s ΔF/F as an NWB ``RoiResponseSeries`` (see :func:`write_nwb`)."""
    return write_nwb(path, pop.to_traces(), interface=interface)


__all__ = ["Population", "gcamp_kernel", "population_fluorescence", "simulate_population",
           "write_population_nwb", "write_population_suite2p"]
