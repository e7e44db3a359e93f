"""One gray-level convention for every pixel format and bit depth (docs/your-data.md).

The same picture, stored as 8-, 10-, 12- or 16-bit samples, limited (TV) or full (PC) range,
H.264, FFV1, MJPEG or image files, is read as the same gray levels 0-255: a b-bit full-range
code value v is ``v * 255 / (2**b - 1)``, a limited-range one is first expanded from
``16 * 2**(b-8) .. 235 * 2**(b-8)``. Files are encoded here by PyAV with the code values
written into the luma plane directly, so the test knows exactly what the file holds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mouseface.io.video import open_video

H, W, N = 48, 64, 4


def _picture() -> np.ndarray:
    """A smooth picture that uses every gray level 0-255 (so range errors show)."""
    yy, xx = np.mgrid[:H, :W]
    ramp = xx / (W - 1) * 255
    wave = 20 * np.sin(yy / 5.0)
    return np.clip(ramp + wave * (ramp > 30) * (ramp < 225), 0, 255)


PICTURE = np.round(_picture()).astype(np.uint8)


def _code_values(bits: int, limited: bool) -> np.ndarray:
    v = PICTURE.astype(np.float64)
    scale = 2 ** (bits - 8)
    if limited:
        return np.round((16 + v * 219 / 255) * scale).astype(np.uint16)
    return np.round(v * (2 ** bits - 1) / 255).astype(np.uint16)


def _encode(path: Path, codec: str, pix_fmt: str, bits: int, color_range: int | None,
            options: dict | None = None) -> Path:
    """Encode ``N`` frames of PICTURE whose luma planes hold the code values directly
    (chroma neutral); ``color_range`` 1 = limited (MPEG), 2 = full (JPEG), None = unspecified.
    """
    import av

    limited = color_range == 1
    y = _code_values(bits, limited)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = W, H, pix_fmt
        if color_range is not None:
            stream.codec_context.color_range = color_range
            # H.264 says a range only beside a colour description (BT.709 here)
            cc = stream.codec_context
            cc.colorspace = cc.color_primaries = cc.color_trc = 1
        stream.options = options or {}
        for _ in range(N):
            frame = av.VideoFrame(W, H, pix_fmt)
            for k, plane in enumerate(frame.planes):
                dtype = np.uint16 if bits > 8 else np.uint8
                width = plane.line_size // np.dtype(dtype).itemsize
                buf = np.frombuffer(plane, dtype).reshape(-1, width)
                if k == 0:
                    buf[:H, :W] = y
                else:
                    buf[:] = 2 ** (bits - 1)
            if color_range is not None:
                frame.color_range = color_range
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _read(path: Path, fps: float | None = None) -> np.ndarray:
    with open_video(path, fps=fps) as reader:
        return np.concatenate([c.frames for c in reader.iter_chunks(chunk_size=8)])


LOSSLESS_264 = {"qp": "0", "preset": "ultrafast"}

CASES = [  # id, suffix, codec, pixel format, bits, colour range, options, tolerance
    ("h264-8bit-unflagged", ".mp4", "libx264", "yuv420p", 8, None, LOSSLESS_264, 0),
    ("h264-8bit-limited", ".mp4", "libx264", "yuv420p", 8, 1, LOSSLESS_264, 1),
    ("h264-8bit-full", ".mp4", "libx264", "yuv420p", 8, 2, LOSSLESS_264, 0),
    ("h264-10bit-unflagged", ".mp4", "libx264", "yuv420p10le", 10, None, LOSSLESS_264, 1),
    ("h264-10bit-limited", ".mp4", "libx264", "yuv420p10le", 10, 1, LOSSLESS_264, 1),
    ("h264-10bit-full", ".mp4", "libx264", "yuv420p10le", 10, 2, LOSSLESS_264, 1),
    ("ffv1-12bit-full", ".mkv", "ffv1", "yuv420p12le", 12, 2, None, 1),
    ("ffv1-12bit-limited", ".mkv", "ffv1", "yuv420p12le", 12, 1, None, 1),
    ("ffv1-gray16", ".mkv", "ffv1", "gray16le", 16, None, None, 1),
    ("ffv1-gray8", ".mkv", "ffv1", "gray", 8, None, None, 0),
    ("mjpeg-full", ".avi", "mjpeg", "yuvj420p", 8, 2, None, 10),
]


@pytest.mark.parametrize(("suffix", "codec", "pix_fmt", "bits", "color_range", "options",
                          "tol"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_same_picture_gives_the_same_gray_levels(tmp_path, suffix, codec, pix_fmt, bits,
                                                     color_range, options, tol):
    path = _encode(tmp_path / f"v{suffix}", codec, pix_fmt, bits, color_range, options)
    got = _read(path)
    assert got.shape == (N, H, W) and got.dtype == np.uint8
    err = np.abs(got.astype(int) - PICTURE.astype(int))
    # MJPEG is lossy: a few levels at edges, about one on average; reading a range wrongly
    # errs by up to 20 levels and 8-10 on average over this picture
    assert err.max() <= tol and err.mean() <= (1.5 if tol > 1 else 0.5), (err.max(),
                                                                           err.mean())


@pytest.mark.parametrize(("bits", "tag"), [(12, False), (12, True), (10, False), (16, False)])
def test_high_bit_depth_tiff_frames_are_scaled_by_their_bit_depth(tmp_path, bits, tag):
    """12-bit camera data in 16-bit TIFFs is not read as its top byte (gray 0-15)."""
    from PIL import Image, TiffImagePlugin

    folder = tmp_path / "frames"
    folder.mkdir()
    values = _code_values(bits, limited=False)
    for i in range(N):
        info = TiffImagePlugin.ImageFileDirectory_v2()
        if tag:
            info[281] = 2 ** bits - 1  # MaxSampleValue
        Image.fromarray(values).save(folder / f"f{i}.tif", tiffinfo=info)
    if tag or bits == 16:
        got = _read(folder, fps=10)
    else:
        with pytest.warns(UserWarning, match=rf"16-bit frames hold values up to "
                                             rf"{values.max()} .*: read as {bits}-bit"):
            got = _read(folder, fps=10)
    err = np.abs(got.astype(int) - PICTURE.astype(int))
    assert err.max() <= 1


def test_a_later_frame_beyond_the_inferred_bit_depth_is_one_line(tmp_path):
    from PIL import Image

    from mouseface._errors import InputError

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(12):
        v = _code_values(12, limited=False)
        if i == 5:
            v = v * 4  # a 14-bit frame among 12-bit ones (the sample missed it)
        Image.fromarray(v).save(folder / f"f{i:02d}.tif")
    with pytest.warns(UserWarning, match="read as 12-bit"), \
            pytest.raises(InputError, match=r"f05\.tif: .*above the 12-bit range"):
        _read(folder, fps=10)
