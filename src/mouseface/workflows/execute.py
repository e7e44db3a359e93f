"""Executors of the one pass: threads on this machine (default) or a Dask cluster.

Work is planned per *video*: the sessions that share one video file (and frame rate) are
extracted together, the video decoded once and every frame cropped to all their regions (a
mosaic of 30 trials costs one decode, not 30). A video's pending chunks are cut into *ranges*
of chunks; a range is decoded from a seek to the keyframe before it and needs nothing from the
others (:mod:`mouseface.features.extract`), so ranges run at once anywhere.

Local (no ``scheduler``, ``workers = 1``): one thread per core (``[compute] threads``), each
decoding its range with its own single-threaded decoder and running the face pass on its own
Numba thread. One FFmpeg decoder with frame threads keeps two cores only about two-thirds busy;
one decoder per core is what decoding alone reaches in two processes. With fewer videos than
cores a video is cut into as many ranges as cores; with more, each video is one task. The
first range of a video decodes from the baseline pre-read's reader, kept open for it (its
decoder single-threaded when ranges run side by side): a video is opened by the pre-read and
once more by each further range (twice on two cores).

Dask (``scheduler = "tcp://host:8786"``, or ``workers = N > 1`` for a ``LocalCluster`` of N
single-threaded worker processes started here): this process creates every store at its final
size, then submits one task per range. Each task writes only its own chunks of each session's
Zarr array (chunks align with ranges: no two tasks write one file). A failed task is retried
(``retries``), and a task lost with its worker is rerun by the scheduler; neither leaves a
partial chunk (chunk files are written to a temporary name and renamed, and a chunk's ``done``
flag is written after its data). Progress comes back as tasks complete
(``distributed.as_completed``). The results equal the local executor's bit for bit: every frame
is processed the same way wherever and in whichever range it runs.

Stores live under the results folder: on a cluster it must be on a file system that every
worker sees at the same path.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
import pandas as pd

from mouseface._progress import Reporter
from mouseface.features.alignment import VideoInfo
from mouseface.features.extract import (
    ExtractStats,
    Target,
    extract_range,
    finalize_stores,
    hog_threads,
    merge_kept,
    prepare_stores,
    usable_cores,
)
from mouseface.io.layout import ResultsLayout
from mouseface.io.store import FeatureStore
from mouseface.settings import ComputeSettings, Settings

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
    info: VideoInfo | None = None  # from the baseline pre-read: no need to open it again

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
               targets: dict[str, Target] | None = None,
               infos: dict[tuple[str, float | None], VideoInfo] | None = None) -> list[VideoJob]:
    """Group the sessions table by video file and frame rate, in table order.

    ``targets`` maps sessions to their :class:`~mouseface.features.extract.Target` (how their
    frames are processed); sessions not in it get their ROI only. ``infos`` are the videos'
    :class:`~mouseface.features.alignment.VideoInfo` by ``(video, fps)`` key.
    """
    targets = targets or {}
    infos = infos or {}
    features_dir = Path(features_dir).resolve()
    jobs = []
    for key, rows in by_video(sessions).items():
        video, fps = key
        job = VideoJob(Path(video), fps, info=infos.get(key))
        for row in rows:
            job.sessions.append(str(row.session))
            path = store_path(features_dir, row.session)
            t = targets.get(str(row.session))
            job.targets.append(Target(path, _roi(row)) if t is None
                               else dataclasses.replace(t, store_path=path))
        jobs.append(job)
    return jobs


def extract_sessions(
    sessions: pd.DataFrame, features_dir: Path, settings: Settings, reporter: Reporter,
    targets: dict[str, Target] | None = None,
    infos: dict[tuple[str, float | None], VideoInfo] | None = None,
) -> dict[str, FeatureStore]:
    """Extract (reuse, resume) every session's features; stores by session, in table order.

    Runs on a Dask cluster when ``settings.compute`` names a scheduler or more than one
    worker, else on this machine's cores. Each returned store's ``kept`` holds the crops its
    pass kept for mean faces (None when it was reused or kept nothing). Readers the baseline
    pre-read kept open (``VideoInfo.reader``) decode one range each and are closed here.
    """
    jobs = video_jobs(sessions, features_dir, targets, infos)
    try:
        if is_distributed(settings.compute):
            done = _extract_dask(jobs, settings, reporter)
        else:
            done = _extract_local(jobs, settings, reporter)
    finally:
        for job in jobs:
            _close_reader(job)
    return {str(s): done[str(s)] for s in sessions["session"]}


def is_distributed(compute: ComputeSettings) -> bool:
    """Whether the pass runs on a Dask cluster (a scheduler named, or several workers)."""
    return bool(compute.scheduler) or compute.workers > 1


def keeps_readers(compute: ComputeSettings) -> tuple[int, int | None]:
    """How many pre-read readers the local pass can take over, and with how many decoder
    threads each must be opened: one per core (the pass starts that many ranges at once),
    single-threaded when ranges run side by side; none for a cluster (readers stay in this
    process)."""
    if is_distributed(compute):
        return 0, None
    cores = compute.threads or usable_cores()
    return cores, 1 if cores > 1 else None


def _close_reader(job: VideoJob) -> None:
    if job.info is not None and job.info.reader is not None:
        job.info.reader.close()


# --------------------------------------------------------------------------- planning


@dataclass
class _Plan:
    job: VideoJob
    todo: list[Target]  # targets whose store is not complete
    pending: list[int]  # chunks pending in any of them (and the last chunk)
    n_frames: int
    bar: object
    results: list[ExtractStats] = field(default_factory=list)
    tasks: int = 0  # ranges still running
    finished: dict | None = None


def _plans(jobs: list[VideoJob], settings: Settings, reporter: Reporter) -> list[_Plan]:
    """Every store created at its size (before any range runs), and what is left to do."""
    hog_params, cs = settings.hog_params(), settings.compute.chunk_size
    plans = []
    for job in jobs:
        stores = prepare_stores(job.video, job.targets, hog_params=hog_params, fps=job.fps,
                                chunk_size=cs,
                                reader_info=None if job.info is None else job.info.as_tuple())
        # from here on every writer checks that the store is still the one made here
        job.targets = [dataclasses.replace(t, fingerprint=s.attrs["fingerprint"])
                       for t, s in zip(job.targets, stores, strict=True)]
        open_ = [s for s in stores if not s.complete]
        plan = _Plan(job, [t for t, s in zip(job.targets, stores, strict=True)
                           if not s.complete],
                     _pending_chunks(open_), stores[0].n_frames,
                     reporter.task(job.label, total=stores[0].n_frames, unit="frames"))
        plan.bar.advance(plan.n_frames - min(len(plan.pending) * cs, plan.n_frames))
        plans.append(plan)
    return plans


def _finish(plans: list[_Plan]) -> dict[str, FeatureStore]:
    out = {}
    for plan in plans:
        out.update(_finish_plan(plan))
    return out


def _finish_plan(plan: _Plan) -> dict[str, FeatureStore]:
    """Mark one video's stores complete (as soon as its ranges are done: an interruption
    later keeps them) and hand back what its pass kept."""
    if plan.finished is not None:
        return plan.finished
    stores = finalize_stores(plan.job.targets, plan.results)
    merged = _merge(plan.results)
    kept = merge_kept(plan.results, len(plan.todo))
    by_path = {t.store_path: k for k, t in enumerate(plan.todo)}
    out = {}
    for session, t, store in zip(plan.job.sessions, plan.job.targets, stores, strict=True):
        store.extraction = merged.as_dict()
        k = by_path.get(t.store_path)
        store.kept = None if k is None else kept[k]
        out[session] = store
    plan.bar.update(total=stores[0].n_frames, completed=stores[0].n_frames)
    plan.finished = out
    return out


# --------------------------------------------------------------------------- local


def _extract_local(
    jobs: list[VideoJob], settings: Settings, reporter: Reporter
) -> dict[str, FeatureStore]:
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    hog_params, cs = settings.hog_params(), settings.compute.chunk_size
    cores = settings.compute.threads or usable_cores()
    plans = _plans(jobs, settings, reporter)
    busy = [p for p in plans if p.todo]
    for plan in plans:
        if not plan.todo:
            _close_reader(plan.job)
    tasks = []
    for plan in busy:
        parts = max(1, -(-cores // len(busy)))
        per = max(MIN_TASK_CHUNKS, -(-len(plan.pending) // parts))
        tasks += [(plan, lo, hi) for lo, hi, _ in _ranges(plan.pending, per)]
        plan.tasks = sum(t[0] is plan for t in tasks)
    parallel = min(cores, len(tasks))
    threads = 1 if parallel > 1 else None
    # the first range of a video decodes from the pre-read's reader when its decoder suits
    lend = {}
    for plan, lo, _ in tasks:
        info = plan.job.info
        if id(plan) not in lend:
            ok = info is not None and info.reader is not None and info.reader.threads == threads
            lend[id(plan)] = (lo, info.reader) if ok else (None, None)

    def done(plan: _Plan, stats: ExtractStats) -> None:
        plan.results.append(stats)
        plan.tasks -= 1
        if plan.tasks == 0:
            _close_reader(plan.job)
            _finish_plan(plan)

    def one(task) -> tuple[_Plan, ExtractStats]:
        plan, lo, hi = task
        if parallel > 1:  # this thread's Numba kernels run on it alone
            numba.set_num_threads(1)
        first, reader = lend[id(plan)]
        stats = extract_range(plan.job.video, plan.todo, hog_params=hog_params,
                              fps=plan.job.fps, chunk_size=cs, start_chunk=lo, stop_chunk=hi,
                              on_frames=plan.bar.advance, threads=threads,
                              reader=reader if lo == first else None)
        return plan, stats

    if parallel > 1:
        # one decoder and one pass per core: BLAS (drift's DFTs) must not add threads
        with threadpool_limits(limits=1, user_api="blas"), \
                ThreadPoolExecutor(max_workers=parallel,
                                   thread_name_prefix="mouseface-pass") as pool:
            for plan, stats in pool.map(one, tasks):
                done(plan, stats)
    else:
        numba_threads = numba.get_num_threads()
        numba.set_num_threads(min(numba_threads, hog_threads()))
        try:
            for plan, stats in map(one, tasks):
                done(plan, stats)
        finally:
            numba.set_num_threads(numba_threads)
    return _finish(plans)


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


def _extract_dask(
    jobs: list[VideoJob], settings: Settings, reporter: Reporter
) -> dict[str, FeatureStore]:
    from distributed import as_completed

    hog_params, cs = settings.hog_params(), settings.compute.chunk_size
    with dask_client(settings.compute) as client:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        plans = _plans(jobs, settings, reporter)  # every store exists before any task runs
        total = sum(len(p.pending) for p in plans if p.todo)
        per_task = max(MIN_TASK_CHUNKS, math.ceil(total / (TASKS_PER_WORKER * n_workers)))
        run = uuid.uuid4().hex[:8]
        futures, owner = [], {}
        for k, plan in enumerate(plans):
            if not plan.todo:
                continue
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
    return _finish(plans)


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
