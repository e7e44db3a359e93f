"""Independent work side by side on threads: jobs under the caller's BLAS and OpenMP limits,
and the frames of a batch through a compiled kernel.

The analyses run their numerical libraries on one thread each by default
(:mod:`mouseface.workflows.analysis`, ``MOUSEFACE_THREADS``): a cross-validation's folds, its
permutations, an embedding per animal are independent, and running them side by side uses the
cores without threads waiting on each other inside one job. OpenMP's thread count belongs to
the thread that sets it, so each job sets the caller's limits on its own thread: a job's
result is then the one it would have alone (the same arithmetic in the same order).

The frame kernels (HOG's sums, the warps, the block means) are serial and release the GIL
(``nogil``): Numba's ``parallel=True`` took seconds more to compile each kernel on a first run
and a thread pool's dispatch on every call, even on one thread (the pass calls them with one,
two passes side by side). :func:`over_frames` gives a batch the threads instead, as many as
Numba's thread count for the calling thread (``numba.get_num_threads()``, the knob the pass
and live set), each on a contiguous run of frames: each frame's values are those of one thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def side_by_side(jobs: Sequence[Callable[[], Any]], n_jobs: int | None) -> list[Any]:
    """The results of ``jobs`` (callables without arguments), in their order, computed on up
    to ``n_jobs`` threads (joblib's meaning: -1 every core; None or 1 one after another, on
    this thread). An exception of a job is raised here."""
    if n_jobs in (None, 1) or len(jobs) <= 1:
        return [job() for job in jobs]
    from joblib import Parallel, delayed
    from threadpoolctl import threadpool_info, threadpool_limits

    limits: dict[str, int] = {}
    for lib in threadpool_info():
        api = lib["user_api"]
        limits[api] = min(limits.get(api, lib["num_threads"]), lib["num_threads"])

    def run(job: Callable[[], Any]) -> Any:
        with threadpool_limits(limits=limits):
            return job()

    return Parallel(n_jobs=n_jobs, prefer="threads")(delayed(run)(job) for job in jobs)


def frame_runs(n_frames: int, parts: int) -> list[slice]:
    """Up to ``parts`` contiguous runs of ``range(n_frames)``, in order, their lengths
    differing by at most one (one empty run when there are no frames)."""
    parts = max(1, min(int(parts), n_frames))
    size, extra = divmod(n_frames, parts)
    runs, start = [], 0
    for k in range(parts):
        stop = start + size + (k < extra)
        runs.append(slice(start, stop))
        start = stop
    return runs


def over_frames(kernel: Callable[[slice], T], n_frames: int) -> list[T]:
    """``kernel(run)`` for contiguous runs of ``n_frames`` frames (:func:`frame_runs`), in
    order, side by side on up to ``numba.get_num_threads()`` threads (one call on this thread
    when that is 1 or there is one frame). ``kernel`` should release the GIL (a ``nogil``
    Numba kernel) and write or return only its own frames.

    The threads live for one call (a thread costs tens of microseconds, a batch milliseconds):
    an idle pool's threads would keep a command's process from its quick exit.
    """
    import numba

    parts = min(n_frames, numba.get_num_threads())
    if parts <= 1:
        return [kernel(slice(0, n_frames))]
    with ThreadPoolExecutor(max_workers=parts, thread_name_prefix="mouseface-frames") as pool:
        return list(pool.map(kernel, frame_runs(n_frames, parts)))
