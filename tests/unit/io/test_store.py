import numpy as np
import pytest

from mouseface._errors import InputError
from mouseface.io.store import FeatureStore

KW = dict(n_frames=10, feature_shape=(2, 3, 8), chunk_size=4, params={"orientations": 8,
          "pixels_per_cell": (8, 8)}, fingerprint="abc")


def test_store_roundtrip_and_resume(tmp_path):
    path = tmp_path / "s.zarr"
    st = FeatureStore.open(path, **KW)
    assert st.pending_chunks() == [0, 1, 2]
    x = np.arange(4 * 48, dtype=np.float32).reshape(4, 48)
    st.write_chunk(1, x, np.arange(4, 8) / 10)
    again = FeatureStore.open(path, **KW)  # same input and parameters: reused, resumable
    assert again.pending_chunks() == [0, 2]
    np.testing.assert_array_equal(again.read(slice(4, 8)), x)
    assert again.read(np.array([5]), flat=False).shape == (1, 2, 3, 8)
    again.write_chunk(0, x, np.arange(4) / 10)
    again.write_chunk(2, x[:2], np.arange(8, 10) / 10)
    again.finalize()
    done = FeatureStore(path)
    assert done.complete and done.n_frames == 10
    np.testing.assert_allclose(done.time, np.arange(10) / 10)


@pytest.mark.parametrize("change", [{"fingerprint": "other"},
                                    {"params": {"orientations": 9, "pixels_per_cell": (8, 8)}}])
def test_store_recomputed_when_input_or_parameters_change(tmp_path, change):
    path = tmp_path / "s.zarr"
    st = FeatureStore.open(path, **KW)
    st.write_chunk(0, np.ones((4, 48)), np.arange(4.0))
    st.finalize()
    fresh = FeatureStore.open(path, **{**KW, **change})
    assert not fresh.complete and fresh.pending_chunks() == [0, 1, 2]


def test_store_shrinks_and_grows(tmp_path):
    st = FeatureStore.open(tmp_path / "s.zarr", **KW)
    st.write_chunk(2, np.ones((4, 48)), np.arange(8, 12.0))  # more frames than announced
    assert st.n_frames == 12
    st.finalize(n_frames=9)
    assert FeatureStore(tmp_path / "s.zarr").read().shape == (9, 48)


def test_store_grows_after_writes_with_every_array(tmp_path):
    """A store grown after chunks were written (its arrays opened for writing) takes the
    chunk past its announced end in every array."""
    st = FeatureStore.open(tmp_path / "s.zarr", **KW, shifts=True, measures=["a", "b"])
    for i, n in ((0, 4), (1, 4), (2, 4), (3, 3)):  # 15 frames where 10 were announced
        rows = np.arange(i * 4, i * 4 + n, dtype=np.float32)
        st.write_chunk(i, np.repeat(rows[:, None], 48, 1), rows / 10,
                       np.column_stack([rows, -rows]), np.column_stack([rows, rows * 2]))
    st.finalize()
    done = FeatureStore(tmp_path / "s.zarr")
    assert done.n_frames == 15 and done.pending_chunks() == []
    np.testing.assert_array_equal(done.read()[:, 0], np.arange(15))
    np.testing.assert_array_equal(done.shifts[:, 1], -np.arange(15))
    np.testing.assert_array_equal(done.measures()["b"], np.arange(15) * 2)
    np.testing.assert_allclose(done.time, np.arange(15) / 10)


def test_not_a_store(tmp_path):
    with pytest.raises(InputError, match="not a mouseface feature store"):
        FeatureStore(tmp_path / "nothing.zarr")
