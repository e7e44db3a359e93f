"""LazyVideo: napari's array of a video, decoded on demand through the project's reader."""

from __future__ import annotations

import numpy as np
import pytest
from tests.fixtures.videos import GOP, HEIGHT, N_FRAMES, WIDTH

from mouseface.io.video import open_video
from mouseface.napari.lazy import LazyVideo


@pytest.fixture
def decoded(moving_video) -> np.ndarray:
    """Every frame of the fixture video as one full pass of the reader gives it."""
    with open_video(moving_video) as reader:
        return np.concatenate([c.frames for c in reader.iter_chunks(64)])


def test_array_interface_and_frames_equal_a_full_pass(moving_video, decoded):
    video = LazyVideo(moving_video, chunk_frames=8)
    assert video.shape == (N_FRAMES, HEIGHT, WIDTH) and video.ndim == 3
    assert video.dtype == np.uint8 and len(video) == N_FRAMES
    for k in (0, 37, 63, 5, -1):
        assert np.array_equal(video[k], decoded[k])
    # what napari asks: a one-frame slice, and the other axes indexed too
    assert np.array_equal(video[slice(20, 21), :, :], decoded[20:21])
    assert np.array_equal(video[10:14, 5:9, ::2], decoded[10:14, 5:9, ::2])
    assert np.array_equal(video[[3, 40], ..., 7], decoded[[3, 40], ..., 7])
    assert np.array_equal(video[..., 2], decoded[..., 2])
    assert video.time(21) == pytest.approx(21 / 20.0)
    with pytest.raises(IndexError, match="outside the video's 64 frames"):
        video[64]


def test_only_the_chunk_around_a_frame_is_decoded_and_kept(moving_video):
    video = LazyVideo(moving_video, chunk_frames=8, cache_chunks=2)
    video[50]
    first = video.reader.frames_out
    # the seek lands on the keyframe at or before frame 48 (every 16 frames), so at most a
    # GOP of lead-in plus the chunk is decoded, never the whole file
    assert 8 <= first <= GOP + 8 < N_FRAMES
    video[49], video[55]
    assert video.reader.frames_out == first  # same chunk: from the cache
    video[3], video[12]
    assert len(video._cache) == 2  # the oldest chunk went
    video[51]
    assert video.reader.frames_out > first  # ... and is decoded again


def test_the_whole_video_is_never_converted(moving_video):
    video = LazyVideo(moving_video)
    with pytest.raises(TypeError, match="decodes frames on demand"):
        np.asarray(video)
    assert video.reader.frames_out == 0
