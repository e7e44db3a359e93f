"""Independent jobs side by side (mouseface._parallel)."""

import functools
import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from mouseface._parallel import frame_runs, over_frames, side_by_side


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


@pytest.fixture
def numba_threads():
    """Numba's thread count for this thread, restored after the test."""
    import numba

    before = numba.get_num_threads()
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("Numba has one thread here (NUMBA_NUM_THREADS)")
    yield numba.set_num_threads
    numba.set_num_threads(before)


def test_frame_runs_cover_every_frame_once_in_order_and_balanced():
    for n in range(12):
        for parts in range(1, 6):
            runs = frame_runs(n, parts)
            assert len(runs) == max(1, min(parts, n))
            assert [i for run in runs for i in range(n)[run]] == list(range(n))
            sizes = [run.stop - run.start for run in runs]
            assert max(sizes) - min(sizes) <= 1


def test_over_frames_gives_runs_of_frames_to_numbas_thread_count(numba_threads):
    seen = []

    def kernel(run):
        seen.append((run, threading.get_ident()))
        return run.start

    numba_threads(2)
    assert over_frames(kernel, 7) == [0, 4]  # in frame order
    assert sorted((r.start, r.stop) for r, _ in seen) == [(0, 4), (4, 7)]
    assert all(t != threading.get_ident() for _, t in seen)
    # none left behind: a live thread would keep the command from its quick exit
    assert not [t for t in threading.enumerate() if t.name.startswith("mouseface-frames")]
    seen.clear()
    assert over_frames(kernel, 1) == [0]  # one frame: no threads
    numba_threads(1)
    assert over_frames(kernel, 7) == [0]  # the pass's setting: here, in one call
    assert seen == [(slice(0, 1), threading.get_ident()), (slice(0, 7), threading.get_ident())]


def test_frame_kernels_give_the_same_bits_on_one_thread_and_on_two(numba_threads):
    from skimage.transform import SimilarityTransform

    from mouseface.features.hog import hog
    from mouseface.features.warp import block_means, warp_frames

    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (5, 96, 130), dtype=np.uint8)
    shifts = rng.normal(0, 2, (5, 2))
    moved = SimilarityTransform(scale=1.04, rotation=0.05, translation=(2.5, -1.5))
    shifted = SimilarityTransform(translation=(-1.3, 2.6))

    def everything():
        return [hog(frames, pixels_per_cell=(16, 16)),
                hog(frames.astype(np.float64), pixels_per_cell=(16, 16)),
                warp_frames(frames, shifted, (4, 3, 100, 80), shifts=shifts),
                warp_frames(frames.astype(np.float32), moved, (4, 3, 100, 80), shifts=shifts,
                            mode="constant"),
                block_means(frames, 3, np.empty((3, 30, 40), np.float32),
                            select=np.array([4, 0, 2])),
                block_means(frames.astype(np.float32), 3, np.empty((5, 30, 40), np.float32))]

    numba_threads(1)
    one = everything()
    numba_threads(2)
    for a, b in zip(one, everything(), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_frame_kernels_are_serial_and_release_the_gil():
    # parallel=True costs seconds of compiling a kernel on a first run and a thread pool's
    # dispatch on every call; a kernel that holds the GIL stops the pass's other thread
    import importlib

    from numba.core.registry import CPUDispatcher

    modules = [importlib.import_module(f"mouseface.features.{m}")
               for m in ("drift", "hog", "motion", "quality", "warp")]
    kernels = {f"{m.__name__}.{name}": obj for m in modules
               for name, obj in vars(m).items() if isinstance(obj, CPUDispatcher)}
    assert len(kernels) > 15
    assert [k for k, d in kernels.items() if d.targetoptions.get("parallel")] == []
    per_batch = ["hog._cell_sums", "hog._normalize_blocks", "warp._bilinear_translate",
                 "warp._bilinear_affine", "warp._block_means", "warp._block_means_u8"]
    assert [k for k in per_batch
            if not kernels[f"mouseface.features.{k}"].targetoptions.get("nogil")] == []
