"""Independent jobs side by side (mouseface._parallel)."""

import functools
import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from mouseface._parallel import side_by_side


def _openmp_threads() -> int | None:
    got = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "openmp"]
    return min(got) if got else None


def test_jobs_keep_their_order_and_run_on_other_threads():
    seen = []

    def job(i):
        seen.append(threading.get_ident())
        return i * i

    assert side_by_side([functools.partial(job, i) for i in range(9)], 2) == [
        i * i for i in range(9)]
    assert any(t != threading.get_ident() for t in seen)
    seen.clear()
    assert side_by_side([functools.partial(job, i) for i in range(3)], None) == [0, 1, 4]
    assert set(seen) == {threading.get_ident()}  # one at a time: here


def test_a_job_runs_under_the_callers_thread_limits():
    # OpenMP's thread count belongs to the thread that sets it: a job on another thread gets
    # the caller's, so what it computes is what it would compute alone
    import sklearn.utils._openmp_helpers  # noqa: F401  (loads the OpenMP runtime)

    if _openmp_threads() is None:
        pytest.skip("no OpenMP runtime loaded")
    with threadpool_limits(limits=1):
        got = side_by_side([_openmp_threads] * 4, 2)
    assert got == [1, 1, 1, 1]


def test_an_error_in_a_job_is_raised_to_the_caller():
    def bad():
        raise ValueError("job failed")

    with pytest.raises(ValueError, match="job failed"):
        side_by_side([lambda: 1, bad, lambda: 3], 2)
    assert np.array_equal(side_by_side([lambda: np.arange(3)], -1)[0], np.arange(3))
