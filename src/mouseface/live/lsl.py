"""Lab Streaming Layer outputs of a live session, and which network they reach.

Two outlets (pylsl, whose wheels carry liblsl):

- ``<name>`` (type ``Expression``): one sample per processed frame, stamped with the frame's
  capture time on LSL's clock. Channels: one per prototype (``neutral`` first, then the
  conditions), for a model with expression axes ``grade_<condition>`` for each (the frame's
  graded intensity, in standard deviations of the calibration frames along the axis), then
  ``flag`` (1 when the frame failed a quality test), ``skipped`` (frames dropped just before
  this one to stay current) and ``frame`` (the frame's number in the source): the last three
  channels are always these. Channel labels and the model are in the stream's description
  (``desc/channels``, ``desc/mouseface``).
- ``<name>-markers`` (type ``Markers``, strings): ``calibrated`` when calibration is done,
  ``trigger:<prototype>`` each time a trigger fires (:mod:`mouseface.live.triggers`), stamped
  with the capture time of the frame that decided it, and ``end`` when the session ends,
  stamped like its last sample.

The end. An outlet that goes away under a connected inlet makes the inlet's liblsl log "Stream
transmission broke off ... re-connecting" (in the consumer's process, at error level), however
normal the end. So a session ends in the order that keeps it quiet: the ``end`` marker, then up
to ``linger`` seconds for the inlets to close (a consumer that reads the marker closes its
inlets once it holds the sample stamped like it: the last one), and only then the outlets.

Which machines see the streams is liblsl's configuration, read once per process from the first
file found of ``$LSLAPICFG``, ``./lsl_api.cfg``, ``~/lsl_api/lsl_api.cfg`` and
``/etc/lsl_api/lsl_api.cfg`` (:func:`lsl_config` reports it). ``[multicast] ResolveScope =
machine`` with ``[lab] KnownPeers = {127.0.0.1}`` keeps discovery on the machine itself (what the
tests use, :data:`MACHINE_SCOPE`); ``link`` or ``site`` (liblsl's default) reach the rig's other
computers.
"""

from __future__ import annotations

import configparser
import os
import time as _time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LslConfig", "MACHINE_SCOPE", "Outlets", "lsl_config", "local_clock"]

#: An ``lsl_api.cfg`` that keeps every LSL packet on this machine (loopback only).
MACHINE_SCOPE = """\
; liblsl configuration: streams are found and sent on this machine only.
[ports]
; no IPv6 multicast groups: the machine scope's IPv4 group is the loopback address
IPv6 = disable

[multicast]
; machine: discovery queries go to 127.0.0.1 only (liblsl's default, site, multicasts to the LAN)
ResolveScope = machine

[lab]
; the one peer asked directly
KnownPeers = {127.0.0.1}
"""


@dataclass(frozen=True)
class LslConfig:
    """The liblsl configuration this process uses (see :func:`lsl_config`)."""

    path: Path | None
    resolve_scope: str
    known_peers: tuple[str, ...]

    def describe(self) -> str:
        where = f"config {self.path}" if self.path else "no lsl_api.cfg: liblsl's defaults"
        peers = "{" + ", ".join(self.known_peers) + "}"
        return f"LSL ResolveScope {self.resolve_scope}, KnownPeers {peers} ({where})"


def lsl_config() -> LslConfig:
    """The liblsl configuration file this process will use, and its scope.

    Follows liblsl's search order (``$LSLAPICFG``, ``./lsl_api.cfg``,
    ``~/lsl_api/lsl_api.cfg``, ``/etc/lsl_api/lsl_api.cfg``; the first readable file wins)
    and reads ``[multicast] ResolveScope`` (default ``site``) and ``[lab] KnownPeers``.

    Examples
    --------
    >>> lsl_config().resolve_scope in ("machine", "link", "site", "organization", "global")
    True
    """
    candidates = [os.environ.get("LSLAPICFG"), "lsl_api.cfg",
                  os.path.expanduser("~/lsl_api/lsl_api.cfg"), "/etc/lsl_api/lsl_api.cfg"]
    for c in candidates:
        if c and os.access(c, os.R_OK) and Path(c).is_file():
            cp = configparser.ConfigParser(inline_comment_prefixes=(";", "#"),
                                           comment_prefixes=(";", "#"), strict=False)
            cp.optionxform = str  # liblsl's keys are case-sensitive
            cp.read(c)
            scope = cp.get("multicast", "ResolveScope", fallback="site").strip()
            peers = cp.get("lab", "KnownPeers", fallback="{}").strip()
            peers = tuple(p.strip() for p in peers.strip("{}").split(",") if p.strip())
            return LslConfig(Path(c).resolve(), scope, peers)
    return LslConfig(None, "site", ())


def _pylsl():
    try:
        import pylsl
    except ImportError:  # pragma: no cover - pylsl is a dependency of the live extra
        from mouseface._errors import InputError, install_hint

        raise InputError(f"pylsl is not installed: {install_hint('live')} (or stream "
                         "nothing with --no-lsl)") from None
    return pylsl


def local_clock() -> float:
    """LSL's clock (seconds): what samples are stamped with."""
    return _pylsl().local_clock()


class Outlets:
    """The expression and marker outlets of one live session.

    Parameters
    ----------
    name
        Stream name (the markers stream is ``<name>-markers``).
    names
        The prototypes, in channel order.
    grades
        The conditions graded (``grade_<c>`` channels after the prototypes).
    fps
        The source's frame rate (the nominal rate); None: irregular.
    source_id
        LSL source id: inlets that lose the stream find it again by this id.
    meta
        Written into ``desc/mouseface`` (model, mode, ROI, source...).
    """

    EXTRA = ("flag", "skipped", "frame")

    def __init__(self, name: str, names, *, grades=(), fps: float | None = None,
                 source_id: str | None = None, meta: dict | None = None):
        pylsl = _pylsl()
        self.names = tuple(names)
        self.grades = tuple(grades)
        source_id = source_id or f"mouseface-{name}"
        rate = float(fps) if fps else pylsl.IRREGULAR_RATE
        info = pylsl.StreamInfo(name, "Expression",
                                len(self.names) + len(self.EXTRA) + len(self.grades), rate,
                                "double64", source_id)
        channels = info.desc().append_child("channels")
        for label in self.names:
            ch = channels.append_child("channel")
            ch.append_child_value("label", label)
            ch.append_child_value("unit", "r")
            ch.append_child_value("type", "expression")
        for label in self.grades:
            ch = channels.append_child("channel")
            ch.append_child_value("label", f"grade_{label}")
            ch.append_child_value("unit", "baseline sd")
            ch.append_child_value("type", "grade")
        for label, unit in zip(self.EXTRA, ("bool", "frames", "index"), strict=True):
            ch = channels.append_child("channel")
            ch.append_child_value("label", label)
            ch.append_child_value("unit", unit)
            ch.append_child_value("type", "misc")
        mf = info.desc().append_child("mouseface")
        for k, v in (meta or {}).items():
            mf.append_child_value(str(k), str(v))
        self.expression = pylsl.StreamOutlet(info, max_buffered=60)
        minfo = pylsl.StreamInfo(f"{name}-markers", "Markers", 1, pylsl.IRREGULAR_RATE,
                                 "string", f"{source_id}-markers")
        self.markers = pylsl.StreamOutlet(minfo, max_buffered=60)
        self.name = name
        self.source_id = source_id

    def push(self, similarity, flag: bool, skipped: int, frame: int, timestamp: float,
             grades=()) -> None:
        """One sample: the similarities, the grades, then flag, skipped and frame."""
        self.expression.push_sample([*map(float, similarity), *map(float, grades),
                                     float(flag), float(skipped), float(frame)], timestamp)

    def marker(self, text: str, timestamp: float) -> None:
        self.markers.push_sample([text], timestamp)

    def wait_for_consumers(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for an inlet on the expression stream."""
        return bool(self.expression.wait_for_consumers(timeout))

    def close(self, end: float | None = None, linger: float = 1.0) -> bool:
        """Send the ``end`` marker (stamped ``end``, default now), wait up to ``linger`` s for
        the inlets to close (samples in flight reach them, and they close before the outlets
        go: see the module notes), then drop the outlets. True when no inlet was left
        connected (a quiet end)."""
        pylsl = _pylsl()
        self.markers.push_sample(["end"], pylsl.local_clock() if end is None else end)
        deadline = _time.monotonic() + linger
        while ((self.expression.have_consumers() or self.markers.have_consumers())
               and _time.monotonic() < deadline):
            _time.sleep(0.01)
        quiet = not (self.expression.have_consumers() or self.markers.have_consumers())
        del self.expression
        del self.markers
        return quiet
