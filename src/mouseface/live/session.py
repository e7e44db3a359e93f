"""A live session: source -> readout -> LSL outlets (and a record), never behind the source.

:func:`run_live` is what ``mouseface live`` runs. A grabber thread reads the source into a
one-frame slot (:mod:`mouseface.live.sources`); this loop takes the newest frame, reads it out
(:meth:`~mouseface.live.readout.LiveReadout.update`), pushes the sample stamped with the frame's
capture time, fires triggers and records the row. Frames the loop was too slow for are replaced
in the slot, counted (``skipped``, in the sample and the record) and never queued, so latency
stays bounded. Latency is measured per frame from the frame's arrival to its sample pushed.

Each frame is read out on one core (:func:`~mouseface.live.readout.one_core`): Numba's and
BLAS's thread pools cost more than they give on one frame, and the grabber needs the other core.

Ends. A file ends normally; a camera or stream that ends, stalls (no frame for ``stall``
seconds) or fails ends the session with a one-line :class:`~mouseface._errors.InputError` after
the record is closed, so what was streamed is kept. Ctrl-C ends it normally.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from mouseface._errors import InputError
from mouseface.live.readout import LiveReadout, Reading
from mouseface.live.record import Recorder
from mouseface.live.sources import Grabber, LatestFrame, Source, SourceEnded, SourceStalled
from mouseface.live.triggers import Trigger
from mouseface.runlog import RunLog

__all__ = ["LiveSummary", "run_live"]


@dataclass
class LiveSummary:
    """What a live session did (also ``run.json``'s ``live`` entry).

    Attributes
    ----------
    names
        The prototypes, in the stream's channel order.
    received
        Frames the source delivered.
    processed
        Frames read out and streamed (calibration frames not included).
    calibration_frames
        Frames used for calibration (0 with a reference file).
    skipped
        Frames dropped to stay current.
    latency_ms
        Arrival to sample pushed: ``p50``, ``p99``, ``max``, ``mean``.
    rate
        Frames streamed per second while streaming (from the first sample pushed to the
        last): the sustained rate.
    seconds
        The whole session, calibration included.
    ended
        Why the session ended (``end of file``, ``interrupted``, ``duration``, or the error).
    markers
        Markers sent: ``{"marker", "frame", "time", "lsl_time"}``.
    """

    names: tuple = ()
    received: int = 0
    processed: int = 0
    calibration_frames: int = 0
    skipped: int = 0
    latency_ms: dict = field(default_factory=dict)
    rate: float = 0.0
    seconds: float = 0.0
    ended: str = ""
    markers: list = field(default_factory=list)
    record: str | None = None

    def line(self) -> str:
        """One line for the terminal."""
        lat = self.latency_ms
        text = (f"{self.processed} frames streamed ({self.skipped} skipped, "
                f"{self.calibration_frames} calibration) at {self.rate:.0f} frames/s")
        if lat:
            text += f"; latency p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms"
        return text + f"; ended: {self.ended}"


def _monotonic() -> float:
    return _time.monotonic()


def run_live(
    readout: LiveReadout,
    source: Source,
    *,
    calibrate: float | None = None,
    reference: str | Path | None = None,
    lsl: str | None = "mouseface",
    triggers: Sequence[Trigger] = (),
    record: str | Path | None = None,
    session: str | None = None,
    animal: str | None = None,
    stall: float = 5.0,
    duration: float | None = None,
    wait_for_consumers: float = 0.0,
    on_reading: Callable[[Reading], None] | None = None,
    on_event: Callable[[str], None] | None = None,
    clock: Callable[[], float] | None = None,
) -> LiveSummary:
    """Read a source out live, frame by frame, onto LSL (and into a record).

    Parameters
    ----------
    readout
        The model to apply (:class:`~mouseface.live.readout.LiveReadout`).
    source
        From :func:`~mouseface.live.sources.open_source`.
    calibrate
        Seconds of quiet baseline at the start that calibrate the readout (frames whose time
        is below it). Give this or ``reference``.
    reference
        A reference file from an earlier session of the animal (``calibration.npz`` of its
        record, or :meth:`LiveReadout.save_reference`).
    lsl
        Name of the LSL streams; None: no LSL output.
    triggers
        :class:`~mouseface.live.triggers.Trigger` s; each firing sends a marker.
    record
        A folder to write ``frames.parquet``, ``run.json`` and ``calibration.npz`` into.
    session, animal
        The record's ``session`` and ``animal`` (default: the source's name).
    stall
        Seconds without a frame after which the source counts as stalled.
    duration
        Stop after this many seconds (default: until the source ends or Ctrl-C).
    wait_for_consumers
        Wait up to this many seconds for an inlet before reading the source.
    on_reading
        Called with each streamed :class:`Reading`, in the loop (a lab's own action; its time
        counts in the latency).
    on_event
        Called with one-line progress messages (calibration done, ...).
    clock
        The session clock (seconds) that stamps arrivals and pushes; default LSL's
        ``local_clock`` (``time.monotonic`` without LSL). Tests give a clock they advance
        themselves, so that latencies and rates do not depend on the machine's speed.

    Returns
    -------
    LiveSummary

    Raises
    ------
    InputError
        Neither calibration nor reference, a source that stalls, ends (cameras and streams)
        or fails, or a model that does not fit the source: one line; the record is closed and
        kept first.
    """
    if (calibrate is None) == (reference is None):
        raise InputError("give either a calibration period (--calibrate SECONDS of quiet "
                         "baseline) or a reference file (--reference FILE)", source.path)
    if calibrate is not None and not calibrate > 0:
        raise InputError(f"--calibrate must be > 0 s, got {calibrate}", source.path)
    say = on_event or (lambda text: None)
    session = session or source.name
    animal = animal or session
    outlets = None
    if lsl:
        from mouseface.live.lsl import Outlets, local_clock

        clock = clock or local_clock
    else:
        clock = clock or _monotonic
    # errors before the first frame leave nothing to keep
    try:
        if reference is not None:
            readout.load_reference(reference, source.frame_shape, source.path)
            cal = None
        else:
            cal = readout.start_calibration(source.frame_shape, source.path)
        names = readout.names_
        recorder = None
        if record is not None:
            recorder = Recorder(record, session=session, animal=animal, names=names,
                                drift=readout.drift_, note=_note(readout.mode_))
    except BaseException:
        source.close()
        raise
    summary = LiveSummary(names=tuple(names), record=None if record is None else str(record))
    slot = LatestFrame(wait=source.wait)
    grabber = Grabber(source, slot, clock)
    latencies: list[float] = []
    first_push = last_push = last_capture = None
    pending_skip = 0  # frames dropped before the next streamed one, not yet reported
    cal_frames: list[tuple[int, int]] = []  # (frame, frames skipped before it)
    error: BaseException | None = None
    t_start = clock()
    try:
        if lsl:
            outlets = Outlets(lsl, names, fps=source.fps, meta={
                "model": Path(readout.model).resolve(), "mode": readout.mode_,
                "roi": ",".join(map(str, readout.roi_)), "source": source.path,
                "session": session, "animal": animal})
            if wait_for_consumers > 0:
                say(f"waiting up to {wait_for_consumers:g} s for an LSL inlet on {lsl}")
                outlets.wait_for_consumers(wait_for_consumers)
        if cal is not None:
            say(f"calibrating on the first {calibrate:g} s")
        grabber.start()
        t_start = clock()
        while True:
            if duration is not None and clock() - t_start >= duration:
                summary.ended = "duration"
                break
            try:
                item, skipped = slot.take(timeout=stall)
                if source.wait:  # fast replay: a frame arrives when the loop takes it
                    item = replace(item, arrival=clock())
            except SourceEnded as end:
                if source.kind != "file":
                    raise InputError(f"{end.reason} after {summary.received} frames",
                                     source.path) from None
                summary.ended = end.reason
                break
            except SourceStalled:
                raise InputError(f"no frame for {stall:g} s after {summary.received} "
                                 "frames: the source stalled", source.path) from None
            summary.received += 1 + skipped
            summary.skipped += skipped
            if cal is not None:
                if item.time < calibrate:
                    cal.add(item.image, item.time)
                    cal_frames.append((item.index, skipped))
                    continue
                if not len(cal):
                    raise InputError(f"no frame of the first {calibrate:g} s reached the "
                                     f"calibration: the first frame taken is {item.time:.2f} s "
                                     f"into the source ({summary.skipped} skipped before it)",
                                     source.path)
                readings = cal.finish(source.path)
                summary.calibration_frames = len(readings)
                if recorder is not None:
                    for (i, k), r in zip(cal_frames, readings, strict=True):
                        recorder.add(r, frame=i, time=r.time, window="neutral", skipped=k)
                    readout.save_reference(recorder.layout.calibration)
                cal = None
                if outlets is not None:
                    outlets.marker("calibrated", item.capture)
                summary.markers.append({"marker": "calibrated", "frame": item.index,
                                        "time": item.time, "lsl_time": item.capture})
                say(f"calibrated on {len(readings)} frames "
                    f"({readout.calibration_['flagged']} flagged)")
                if not source.wait:
                    # the frame that ended calibration waited for it: stale, skip to the newest
                    summary.skipped += 1
                    pending_skip = 1
                    continue
                item = replace(item, arrival=clock())
            skipped += pending_skip
            pending_skip = 0
            reading = readout.update(item.image, item.time)
            if on_reading is not None:
                on_reading(reading)
            if outlets is not None:
                outlets.push(reading.similarity, reading.flag, skipped, item.index,
                             item.capture)
            now = clock()
            latency = (now - item.arrival) * 1e3
            latencies.append(latency)
            first_push = now if first_push is None else first_push
            last_push, last_capture = now, item.capture
            summary.processed += 1
            for t in triggers:
                j = names.index(t.prototype)
                if t.update(float(reading.similarity[j]), reading.flag, item.time):
                    if outlets is not None:
                        outlets.marker(t.marker, item.capture)
                    summary.markers.append({"marker": t.marker, "frame": item.index,
                                            "time": item.time, "lsl_time": item.capture})
            if recorder is not None:
                recorder.add(reading, frame=item.index, time=item.time,
                             lsl_time=item.capture, latency_ms=latency, skipped=skipped)
    except KeyboardInterrupt:
        summary.ended = "interrupted"
    except BaseException as exc:
        error = exc
        summary.ended = str(exc)
    finally:
        left = grabber.stop()
        summary.received += left
        summary.skipped += left
        summary.seconds = float(clock() - t_start)
    if cal is not None and error is None and summary.received:
        error = InputError(f"the source ended during calibration ({len(cal)} frames, "
                           f"{calibrate:g} s asked)", source.path)
        summary.ended = str(error)
    if latencies:
        lat = np.asarray(latencies)
        summary.latency_ms = {"p50": float(np.percentile(lat, 50)),
                              "p99": float(np.percentile(lat, 99)),
                              "max": float(lat.max()), "mean": float(lat.mean())}
    if first_push is not None and last_push > first_push:
        summary.rate = (summary.processed - 1) / (last_push - first_push)
    try:
        if recorder is not None:
            recorder.close(_run_json(readout, source, summary, triggers, calibrate, reference,
                                     lsl, session))
    finally:
        if outlets is not None:
            outlets.close(end=last_capture)
    if error is not None:
        raise error
    return summary


def _note(mode: str) -> str:
    if mode == "transfer":
        return ("live, transfer model: sim_neutral is the correlation of each frame's HOG with "
                "the animal's own neutral face (mean of its calibration frames); "
                "sim_<condition> the correlation of the frame's difference from that face with "
                "the condition's difference prototype")
    return ("live: prototypes from the saved model; neutral from the animal's own calibration "
            "frames")


def _run_json(readout, source, summary, triggers, calibrate, reference, lsl,
              session) -> dict:
    """What ``run.json`` records of a live session (:class:`~mouseface.runlog.RunLog`, as
    every command writes it)."""
    s = readout.saved_
    log = RunLog("live", s.parsed)
    model_path = Path(readout.model).resolve()
    log.inputs = [{"kind": "model", "path": str(model_path), "size": None,
                   "fingerprint": s.fingerprint},
                  {"kind": source.kind, "path": str(source.path), "session": session,
                   "frames": summary.received}]
    if source.kind == "file":
        p = Path(source.path)
        log.inputs[1].update(path=str(p.resolve()), size=p.stat().st_size if p.is_file() else None)
    log.timings["live"] = round(summary.seconds, 3)
    live = asdict(summary)
    live.update(source=source.describe(), roi=list(readout.roi_),
                calibration={"seconds": calibrate, "reference": None if reference is None
                             else str(reference), **getattr(readout, "calibration_", {})},
                triggers=[{"prototype": t.prototype, "threshold": t.threshold,
                           "frames": t.frames, "refractory_s": t.refractory, "fired": t.fired}
                          for t in triggers],
                lsl=None if not lsl else _lsl_entry(lsl))
    return log.record(frames_note=_note(readout.mode_), model=str(model_path),
                      model_mode=readout.mode_, live=live)


def _lsl_entry(name: str) -> dict:
    from mouseface.live.lsl import lsl_config

    c = lsl_config()
    return {"name": name, "markers": f"{name}-markers", "resolve_scope": c.resolve_scope,
            "known_peers": list(c.known_peers), "config": None if c.path is None else str(c.path)}
