"""A live session: source -> readout -> LSL outlets (and a record), never behind the source.

:func:`run_live` is what ``mouseface live`` runs. A grabber thread reads the source into a
one-frame slot (:mod:`mouseface.live.sources`); this loop takes the newest frame, reads it out
(:meth:`~mouseface.live.readout.LiveReadout.update`), pushes the sample stamped with the frame's
capture time, fires triggers and records the row. Frames the loop was too slow for are replaced
in the slot, counted (``skipped``, in the sample and the record) and never queued, so latency
stays bounded. Latency is measured per frame from the frame's arrival to its sample pushed.

Each frame is read out on one core (:func:`~mouseface.live.readout.one_core`, held for the whole
loop so that no frame pays for entering it): Numba's and BLAS's thread pools cost more than they
give on one frame, and the grabber needs the other core.

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
from mouseface.live.readout import LiveReadout, Reading, one_core
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
    grades
        The conditions graded (``grade_<c>`` channels and columns), in order.
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
    grades: tuple = ()
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
    session = session or source.name
    live = _LiveRun(readout, source, calibrate=calibrate, reference=reference, lsl=lsl,
                    triggers=triggers, record=record, session=session,
                    animal=animal or session, on_reading=on_reading,
                    say=on_event or (lambda text: None), clock=clock)
    try:
        live.loop(stall=stall, duration=duration, wait_for_consumers=wait_for_consumers)
    finally:
        live.close()
    return live.summary


class _LiveRun:
    """One live session in three steps: set up (calibration or reference, record), the loop
    (each frame calibrates or is read out, streamed, triggered and recorded), and the summary
    (latency, rate, ``run.json``), which :meth:`close` writes even when the loop failed."""

    def __init__(self, readout: LiveReadout, source: Source, *, calibrate, reference, lsl,
                 triggers, record, session, animal, on_reading, say, clock=None):
        self.readout, self.source = readout, source
        self.calibrate, self.reference, self.lsl = calibrate, reference, lsl
        self.triggers, self.session, self.animal = triggers, session, animal
        self.on_reading, self.say = on_reading, say
        self.clock = clock or _monotonic
        if lsl:
            from mouseface.live.lsl import local_clock

            self.clock = clock or local_clock
        self.outlets = None
        # errors before the first frame leave nothing to keep
        try:
            if reference is not None:
                readout.load_reference(reference, source.frame_shape, source.path)
                self.cal = None
            else:
                self.cal = readout.start_calibration(source.frame_shape, source.path)
            self.names = readout.names_
            self.recorder = None
            if record is not None:
                self.recorder = Recorder(record, session=session, animal=animal,
                                         names=self.names, drift=readout.drift_,
                                         grades=readout.grade_names_,
                                         note=_note(readout.mode_))
        except BaseException:
            source.close()
            raise
        self.summary = LiveSummary(names=tuple(self.names),
                                   grades=tuple(readout.grade_names_),
                                   record=None if record is None else str(record))
        self.slot = LatestFrame(wait=source.wait)
        self.grabber = Grabber(source, self.slot, self.clock)
        self.latencies: list[float] = []
        self.first_push = self.last_push = self.last_capture = None
        self.pending_skip = 0  # frames dropped before the next streamed one, not yet reported
        self.cal_frames: list[tuple[int, int]] = []  # (frame, frames skipped before it)
        self.error: BaseException | None = None
        self.t_start = self.clock()

    # ------------------------------------------------------------------ the loop

    def loop(self, *, stall: float, duration: float | None, wait_for_consumers: float) -> None:
        """Take the newest frame until the source ends, ``duration`` passes or Ctrl-C;
        remember an error for :meth:`close` to raise once the record is kept."""
        summary, clock = self.summary, self.clock
        try:
            self._open_outlets(wait_for_consumers)
            if self.cal is not None:
                self.say(f"calibrating on the first {self.calibrate:g} s")
            self.grabber.start()
            self.t_start = clock()
            with one_core():  # held for the session: no frame pays for entering it
                self._frames(stall, duration)
        except KeyboardInterrupt:
            summary.ended = "interrupted"
        except BaseException as exc:
            self.error = exc
            summary.ended = str(exc)
        finally:
            left = self.grabber.stop()
            summary.received += left
            summary.skipped += left
            summary.seconds = float(clock() - self.t_start)

    def _frames(self, stall: float, duration: float | None) -> None:
        """The loop proper: take, calibrate or read out, until the source ends or
        ``duration`` passes."""
        source, summary, clock = self.source, self.summary, self.clock
        while True:
            if duration is not None and clock() - self.t_start >= duration:
                summary.ended = "duration"
                break
            try:
                item, skipped = self.slot.take(timeout=stall)
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
            if self.cal is not None:
                item = self._calibrating(item, skipped)
                if item is None:
                    continue
            self._stream(item, skipped)

    def _open_outlets(self, wait_for_consumers: float) -> None:
        if not self.lsl:
            return
        from mouseface.live.lsl import Outlets

        r, source = self.readout, self.source
        meta = {"model": Path(r.model).resolve(), "mode": r.mode_,
                "roi": ",".join(map(str, r.roi_)), "source": source.path,
                "session": self.session, "animal": self.animal}
        self.outlets = Outlets(self.lsl, self.names, grades=r.grade_names_, fps=source.fps,
                               meta=meta)
        if wait_for_consumers > 0:
            self.say(f"waiting up to {wait_for_consumers:g} s for an LSL inlet on {self.lsl}")
            self.outlets.wait_for_consumers(wait_for_consumers)

    def _calibrating(self, item, skipped: int):
        """Feed a calibration frame (None back), or finish the calibration on the first frame
        past it and return that frame to stream (None: it waited, skip to the newest)."""
        summary, cal = self.summary, self.cal
        if item.time < self.calibrate:
            cal.add(item.image, item.time)
            self.cal_frames.append((item.index, skipped))
            return None
        if not len(cal):
            raise InputError(f"no frame of the first {self.calibrate:g} s reached the "
                             f"calibration: the first frame taken is {item.time:.2f} s "
                             f"into the source ({summary.skipped} skipped before it)",
                             self.source.path)
        readings = cal.finish(self.source.path)
        summary.calibration_frames = len(readings)
        if self.recorder is not None:
            for (i, k), r in zip(self.cal_frames, readings, strict=True):
                self.recorder.add(r, frame=i, time=r.time, window="neutral", skipped=k)
            self.readout.save_reference(self.recorder.layout.calibration)
        self.cal = None
        if self.outlets is not None:
            self.outlets.marker("calibrated", item.capture)
        summary.markers.append({"marker": "calibrated", "frame": item.index,
                                "time": item.time, "lsl_time": item.capture})
        self.say(f"calibrated on {len(readings)} frames "
                 f"({self.readout.calibration_['flagged']} flagged)")
        if not self.source.wait:
            # the frame that ended calibration waited for it: stale, skip to the newest
            summary.skipped += 1
            self.pending_skip = 1
            return None
        return replace(item, arrival=self.clock())

    def _stream(self, item, skipped: int) -> None:
        """Read one frame out, push it, fire triggers and record it."""
        skipped += self.pending_skip
        self.pending_skip = 0
        reading = self.readout.update(item.image, item.time)
        if self.on_reading is not None:
            self.on_reading(reading)
        if self.outlets is not None:
            self.outlets.push(reading.similarity, reading.flag, skipped, item.index,
                              item.capture, reading.grades)
        now = self.clock()
        latency = (now - item.arrival) * 1e3
        self.latencies.append(latency)
        self.first_push = now if self.first_push is None else self.first_push
        self.last_push, self.last_capture = now, item.capture
        self.summary.processed += 1
        for t in self.triggers:
            j = self.names.index(t.prototype)
            if t.update(float(reading.similarity[j]), reading.flag, item.time):
                if self.outlets is not None:
                    self.outlets.marker(t.marker, item.capture)
                self.summary.markers.append({"marker": t.marker, "frame": item.index,
                                             "time": item.time, "lsl_time": item.capture})
        if self.recorder is not None:
            self.recorder.add(reading, frame=item.index, time=item.time,
                              lsl_time=item.capture, latency_ms=latency, skipped=skipped)

    # ------------------------------------------------------------------ the summary

    def close(self) -> None:
        """Latency and rate into the summary, the record closed with its ``run.json``, the
        outlets closed; then the loop's error, if any, is raised."""
        summary, error = self.summary, self.error
        if self.cal is not None and error is None and summary.received:
            error = InputError(f"the source ended during calibration ({len(self.cal)} frames, "
                               f"{self.calibrate:g} s asked)", self.source.path)
            summary.ended = str(error)
        if self.latencies:
            lat = np.asarray(self.latencies)
            summary.latency_ms = {"p50": float(np.percentile(lat, 50)),
                                  "p99": float(np.percentile(lat, 99)),
                                  "max": float(lat.max()), "mean": float(lat.mean())}
        if self.first_push is not None and self.last_push > self.first_push:
            summary.rate = (summary.processed - 1) / (self.last_push - self.first_push)
        try:
            if self.recorder is not None:
                self.recorder.close(_run_json(self.readout, self.source, summary,
                                              self.triggers, self.calibrate, self.reference,
                                              self.lsl, self.session))
        finally:
            if self.outlets is not None:
                self.outlets.close(end=self.last_capture)
        if error is not None:
            raise error


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
