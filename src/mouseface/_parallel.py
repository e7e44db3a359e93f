"""Independent jobs side by side on threads, each under the caller's BLAS and OpenMP limits.

The analyses run their numerical libraries on one thread each by default
(:mod:`mouseface.workflows.analysis`, ``MOUSEFACE_THREADS``): a cross-validation's folds, its
permutations, an embedding per animal are independent, and running them side by side uses the
cores without threads waiting on each other inside one job. OpenMP's thread count belongs to
the thread that sets it, so each job sets the caller's limits on its own thread: a job's
result is then the one it would have alone (the same arithmetic in the same order).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


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
