"""`mouseface live`: a fitted model read out frame by frame, streamed over Lab Streaming Layer."""

from __future__ import annotations

from pathlib import Path

import typer

from mouseface.cli._app import app, locks_folder, user_errors


@app.command()
@user_errors
@locks_folder(lambda kwargs: None if kwargs.get("record") is None
              else (Path(kwargs["record"]), True))
def live(
    model: Path = typer.Argument(..., help="Model folder (from `fit`, or a results folder of "
                                 "`run` with --animal).", show_default=False),
    source: str = typer.Option(..., "--source", "-s", help="A camera (/dev/video0), a stream "
                               "URL PyAV opens (rtsp://, udp://, tcp://, a named pipe), or a "
                               "video file (processed as fast as possible; see --replay).",
                               show_default=False),
    replay: bool = typer.Option(False, "--replay", help="Video files: deliver frames at the "
                                "video's own frame rate, as a camera would."),
    roi: str | None = typer.Option(None, "--roi", help="The face in the frame, 'x,y,w,h' "
                                   "(the model's crop size); default the whole frame."),
    calibrate: float | None = typer.Option(None, "--calibrate", help="Seconds of quiet "
                                           "baseline at the start that calibrate the animal's "
                                           "reference and neutral face."),
    reference: Path | None = typer.Option(None, "--reference", help="Calibration of an earlier "
                                          "session of this animal (calibration.npz of its "
                                          "--record folder) instead of --calibrate."),
    record: Path | None = typer.Option(None, "--record", help="Write what was streamed as a "
                                       "results folder (frames.parquet, run.json, "
                                       "calibration.npz)."),
    name: str = typer.Option("mouseface", "--name", help="LSL stream name (the markers stream "
                             "is NAME-markers)."),
    lsl: bool = typer.Option(True, "--lsl/--no-lsl", help="Stream over Lab Streaming Layer."),
    trigger: list[str] = typer.Option([], "--trigger", help="PROTOTYPE:THRESHOLD, e.g. "
                                      "pain:0.4: a 'trigger:pain' marker when the similarity "
                                      "stays at or above it for --trigger-frames frames "
                                      "(repeatable)."),
    trigger_frames: int = typer.Option(3, "--trigger-frames", min=1, help="Consecutive frames "
                                       "a trigger needs."),
    refractory: float = typer.Option(2.0, "--refractory", min=0.0, help="Seconds after a "
                                     "trigger fires during which it stays silent."),
    session: str | None = typer.Option(None, "--session", help="Session name in the record "
                                       "(default: the source's name)."),
    animal: str | None = typer.Option(None, "--animal", help="Animal name in the record; picks "
                                      "the prototypes of a per-animal model."),
    wait: float = typer.Option(0.0, "--wait", min=0.0, help="Wait up to this many seconds for "
                               "an LSL inlet (LabRecorder, Bonsai) before reading the source."),
    stall: float = typer.Option(5.0, "--stall", min=0.1, help="Seconds without a frame after "
                                "which the source counts as stalled."),
    duration: float | None = typer.Option(None, "--duration", min=0.0, help="Stop after this "
                                          "many seconds (default: the end of the source, or "
                                          "Ctrl-C)."),
    fmt: str | None = typer.Option(None, "--format", help="FFmpeg input format (default v4l2 "
                                   "for /dev/video*, else detected)."),
    option: list[str] = typer.Option([], "--option", help="FFmpeg input option KEY=VALUE, e.g. "
                                     "video_size=640x480, framerate=100, input_format=mjpeg "
                                     "(repeatable)."),
    fps: float | None = typer.Option(None, "--fps", help="Video files: override the "
                                     "container's frame rate."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the summary line."),
) -> None:
    """Stream a fitted model's readout live over LSL, frame by frame.

    Streams NAME (one channel per prototype, grade_<condition> per expression axis of the
    model, then flag, skipped, frame; stamped with each frame's capture time) and
    NAME-markers ('calibrated', 'trigger:<prototype>'). Frames the loop is too slow for are
    skipped and counted, never queued. Stop with Ctrl-C.
    """
    from mouseface._errors import InputError
    from mouseface.live import LiveReadout, open_source, parse_trigger, run_live

    options = {}
    for item in option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--option takes KEY=VALUE, got {item!r}")
        options[key.strip()] = value.strip()
    triggers = []
    for text in trigger:
        try:
            triggers.append(parse_trigger(text, frames=trigger_frames, refractory=refractory))
        except ValueError as exc:
            raise InputError(f"--trigger: {exc}") from None
    readout = LiveReadout(model, roi=roi, animal=animal)
    names = readout.saved_.names  # a bad model fails before the source is opened
    for t in triggers:
        if t.prototype not in names:
            raise InputError(f"--trigger {t.prototype}: the model's prototypes are "
                             f"{', '.join(names)}", model)
    say = (lambda text: None) if quiet else typer.echo
    if lsl:
        from mouseface.live.lsl import lsl_config

        say(lsl_config().describe())
    src = open_source(source, replay=replay, fps=fps, format=fmt, options=options)
    say(f"source {src.path}: {src.kind}, {src.frame_shape[1]} x {src.frame_shape[0]}"
        + (f", {src.fps:g} frames/s" if src.fps else ""))
    summary = run_live(readout, src, calibrate=calibrate, reference=reference,
                       lsl=name if lsl else None, triggers=triggers, record=record,
                       session=session, animal=animal, stall=stall, duration=duration,
                       wait_for_consumers=wait, on_event=say)
    typer.echo(summary.line())
    if record is not None:
        say(f"record written to {record}")
