"""Live expression readout for closed-loop experiments (``mouseface live``).

A fitted model applied frame by frame as frames arrive from a camera, a stream or a replayed
video, streamed over Lab Streaming Layer:

- :class:`LiveReadout` (``calibrate(frames)``, ``update(frame) -> Reading``): the per-frame code
  path, for labs that run their own loop;
- :func:`open_source`, :func:`run_live`: the session ``mouseface live`` runs (a grabber thread
  with a latest-frame hand-off, LSL outlets, triggers, a record);
- :class:`Trigger`: a marker when a prototype stays above a threshold for k frames.

pylsl is imported only when a session streams, so this package imports without it.
"""

from mouseface.live.readout import LiveCalibration, LiveReadout, Reading, one_core
from mouseface.live.session import LiveSummary, run_live
from mouseface.live.sources import Frame, LatestFrame, open_source
from mouseface.live.triggers import Trigger, parse_trigger

__all__ = ["Frame", "LatestFrame", "LiveCalibration", "LiveReadout", "LiveSummary", "Reading",
           "Trigger", "one_core", "open_source", "parse_trigger", "run_live"]
