"""Executors for feature extraction: this process (default) or a Dask cluster.

Work is planned per *video*: the sessions that share one video file (and frame rate) are
extracted together, the video decoded once and every frame cropped to all their ROIs (a mosaic
of 30 trials costs one decode, not 30).

Local (``[compute] workers = 1``, no ``scheduler``): one video after another in this process,
each decoded and HOG'd in a pipeline that keeps every core busy
(:mod:`mouseface.features.extract`).

Dask (``scheduler = "tcp://host:8786"``, or ``workers = N > 1`` for a ``LocalCluster`` of N
single-threaded worker processes started here): this process creates every store at its final
size, then submits one task per *(video, range of frame chunks)*. Each task decodes its range
from a seek to the keyframe before it and writes only its own chunks of each session's Zarr
array (chunks align with ranges: no two tasks write one file). A failed task is retried
(``retries``), and a task lost with its worker is rerun by the scheduler; neither leaves a
partial chunk (chunk files are written to a temporary name and renamed, and a chunk's ``done``
flag is written after its data). Progress comes back as tasks complete
(``distributed.as_completed``). The results equal the local executor's bit for bit: every frame
is decoded and HOG'd the same way wherever it runs.

Stores live under the results folder: on a cluster it must be on a file system that every
worker sees at the same path.
"""

from __future__ import annotations

import contextlib
import logging
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mouseface._progress import Reporter
from mouseface.features.extract import (
    ExtractStats,
    Target,
    extract_range,
    finalize_stores,
    prepare_stores,
)
from mouseface.io.layout import ResultsLayout
from mouseface.io.store import FeatureStore
from mouseface.workflows.settings import ComputeSettings, Settings

#: Times a failed task is retried on the cluster (worker loss is handled by the scheduler).
RETRIES = 2
#: Fewest frame chunks per cluster task (a task seeks once, so tiny tasks waste decoding).
MIN_TASK_CHUNKS = 4
#: Tasks aimed at per worker, for balance when there are few videos.
TASKS_PER_WORKER = 4


def store_path(features_dir: Path, session: str) -> Path:
    """Where the features of ``session`` live."""
    return ResultsLayout(Path(features_dir).parent).store(session)


@dataclass
class VideoJob:
    """The sessions of one video file (at one frame rate): decoded together."""

    video: Path
    fps: float | None
    sessions: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)

    @property
    def label(self) -> str:
        if len(self.sessions) == 1:
            return f"features {self.sessions[0]}"
        return f"features {self.video.name} ({len(self.sessions)} sessions)"


def by_video(sessions: pd.DataFrame) -> dict[tuple[str, float | None], list]:
    """The sessions table's rows grouped by video file and frame rate, in table order (what
    one decoding pass serves)."""
    groups: dict[tuple[str, float | None], list] = {}
    for row in sessions.itertuples(index=False):
        groups.setdefault((str(Path(row.video).resolve()), _fps(row)), []).append(row)
    return groups


def video_jobs(sessions: pd.DataFrame, features_dir: Path,
               alignments: dict | None = None) -> list[VideoJob]:
    """Group the sessions table by video file and frame rate, in table order.

    ``alignments`` maps sessions to their :class:`~mouseface.features.alignment.Alignment`
    (registration before HOG); sessions not in it are not registered.
    """
    alignments = alignments or {}
    features_dir = Path(features_dir).resolve()
    jobs = []
    for (video, fps), rows in by_video(sessions).items():
        job = VideoJob(Path(video), fps)
        for row in rows:
            job.sessions.append(str(row.session))
            job.targets.append(Target(store_path(features_dir, row.session), _roi(row),
                                      alignments.get(str(row.session))))
        jobs.append(job)
    return jobs


def extract_sessions(
    sessions: pd.DataFrame, features_dir: Path, settings: Settings, reporter: Reporter,
    alignments: dict | None = None,
) -> dict[str, FeatureStore]:
    """Extract (reuse, resume) every session's features; stores by session, in table order.

    Runs on a Dask cluster when ``settings.compute`` names a scheduler or more than one
    worker, else in this process. ``alignments`` (session -> Alignment) registers frames.
    """
    jobs = video_jobs(sessions, features_dir, alignments)
    c = settings.compute
    if c.scheduler or c.workers > 1:
        done = _extract_dask(jobs, settings, reporter)
    else:
        done = _extract_local(jobs, settings, reporter)
    return {str(s): done[str(s)] for s in sessions["session"]}


# --------------------------------------------------------------------------- local


def _extract_local(
    jobs: list[VideoJob], settings: Settings, reporter: Reporter
) -> dict[str, FeatureStore]:
    hog_params, cs = settings.hog_params(), settings.compute.chunk_size
    out = {}
    for job in jobs:
        stores = prepare_stores(job.video, job.targets, hog_params=hog_params, fps=job.fps,
                                chunk_size=cs)
        total = stores[0].n_frames
        task = reporter.task(job.label, total=total)
        todo = [t for t, s in zip(job.targets, stores, strict=True) if not s.complete]
        stats = ExtractStats()
        if todo:
            stats = extract_range(job.video, todo, hog_params=hog_params, fps=job.fps,
                                  chunk_size=cs, on_frames=task.advance)
        stores = finalize_stores(job.targets, [stats])
        for session, store in zip(job.sessions, stores, strict=True):
            store.extraction = stats.as_dict()
            out[session] = store
        task.update(total=stores[0].n_frames, completed=stores[0].n_frames)
    return out


# --------------------------------------------------------------------------- Dask


@contextlib.contextmanager
def dask_client(compute: ComputeSettings) -> Iterator:
    """A ``distributed.Client``: to ``compute.scheduler``, else to a new ``LocalCluster``.

    The local cluster has ``compute.workers`` worker processes of one thread each (HOG and
    decoding are multi-threaded inside a task); its scheduler's HTTP port is any free one.
    """
    from distributed import Client, LocalCluster

    if compute.scheduler:
        with Client(compute.scheduler) as client:
            yield client
        return
    with LocalCluster(n_workers=compute.workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"},
                      silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        yield client


@dataclass
class _Plan:
    job: VideoJob
    todo: list[Target]  # targets whose store is not complete
    pending: list[int]  # chunks pending in any of them (and the last chunk)
    n_frames: int
    bar: object
    results: list[ExtractStats] = field(default_factory=list)


def _extract_dask(
    jobs: list[VideoJob], settings: Settings, reporter: Reporter
) -> dict[str, FeatureStore]:
    from distributed import as_completed

    hog_params, cs = settings.hog_params(), settings.compute.chunk_size
    with dask_client(settings.compute) as client:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        plans = []
        for job in jobs:  # the client creates every store, at its size, before any task runs
            stores = prepare_stores(job.video, job.targets, hog_params=hog_params, fps=job.fps,
                                    chunk_size=cs)
            open_ = [s for s in stores if not s.complete]
            plan = _Plan(job, [t for t, s in zip(job.targets, stores, strict=True)
                               if not s.complete],
                         _pending_chunks(open_), stores[0].n_frames,
                         reporter.task(job.label, total=stores[0].n_frames))
            plan.bar.advance(plan.n_frames - min(len(plan.pending) * cs, plan.n_frames))
            plans.append(plan)
        total = sum(len(p.pending) for p in plans)
        per_task = max(MIN_TASK_CHUNKS, math.ceil(total / (TASKS_PER_WORKER * n_workers)))
        run = uuid.uuid4().hex[:8]
        futures, owner = [], {}
        for k, plan in enumerate(plans):
            for lo, hi, n_chunks in _ranges(plan.pending, per_task):
                fut = client.submit(
                    extract_range, str(plan.job.video), plan.todo, hog_params=hog_params,
                    fps=plan.job.fps, chunk_size=cs, start_chunk=lo, stop_chunk=hi,
                    retries=RETRIES, pure=False, key=f"mouseface-extract-{run}-{k}-{lo}")
                futures.append(fut)
                owner[fut.key] = (plan, min(n_chunks * cs, plan.n_frames))
        try:
            for fut in as_completed(futures):
                plan, frames = owner[fut.key]
                plan.results.append(fut.result())
                plan.bar.advance(frames)
        except BaseException:
            client.cancel(futures)
            raise
    out = {}
    for plan in plans:
        stores = finalize_stores(plan.job.targets, plan.results)
        merged = _merge(plan.results)
        for session, store in zip(plan.job.sessions, stores, strict=True):
            store.extraction = merged.as_dict()
            out[session] = store
        plan.bar.update(total=stores[0].n_frames, completed=stores[0].n_frames)
    return out


def _pending_chunks(stores: list[FeatureStore]) -> list[int]:
    """Chunks pending in any of ``stores``, plus the last chunk (where the stream ends)."""
    if not stores:
        return []
    n = max(s.n_chunks for s in stores)
    pending = np.zeros(n, dtype=bool)
    for s in stores:
        d = s.done_mask()
        pending[: len(d)] |= ~d
    pending[n - 1] = True
    return np.flatnonzero(pending).tolist()


def _ranges(pending: list[int], per_task: int) -> list[tuple[int, int | None, int]]:
    """Split pending chunks into tasks ``(start_chunk, stop_chunk, n_pending)``; the last is
    open-ended (it reads to the end of the stream)."""
    out = []
    for i in range(0, len(pending), per_task):
        part = pending[i:i + per_task]
        out.append((part[0], part[-1] + 1, len(part)))
    if out:
        lo, _, n = out[-1]
        out[-1] = (lo, None, n)
    return out


def _merge(stats: list[ExtractStats]) -> ExtractStats:
    ends = [s.end for s in stats if s.end is not None]
    return ExtractStats(
        frames_decoded=sum(s.frames_decoded for s in stats),
        frames_read=sum(s.frames_read for s in stats),
        chunks_written=sum(s.chunks_written for s in stats),
        runs=sorted((r for s in stats for r in s.runs), key=lambda r: r[0]),
        end=min(ends) if ends else None, truncated=any(s.truncated for s in stats))


# --------------------------------------------------------------------------- table rows


def _roi(row) -> tuple[int, int, int, int] | None:
    roi = getattr(row, "roi", None)
    if roi is None or (isinstance(roi, float) and roi != roi):
        return None
    return tuple(int(v) for v in roi)


def _fps(row) -> float | None:
    fps = getattr(row, "fps", None)
    return None if fps is None or fps != fps else float(fps)
