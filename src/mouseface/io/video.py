"""Reading face video in bounded-memory chunks (PyAV), or folders of image frames.

CONTRACT (implemented by the io helper; pipeline depends on exactly this):

    reader = open_video(path, roi=None, fps=None)   # -> VideoReader
    reader.path: Path
    reader.n_frames: int            # best count available (container frame count, or decoded count)
    reader.fps: float               # the fps argument if given, else the container's average rate
    reader.frame_shape: (H, W)      # of the full frame
    reader.crop_shape: (h, w)       # after ROI
    reader.roi: (x, y, w, h)
    reader.fingerprint(): str       # cheap content fingerprint: size + mtime-free hash of head/tail bytes
    for chunk in reader.iter_chunks(chunk_size=256, start=0, stop=None):
        chunk.index:  (n,) int64 frame indices
        chunk.time:   (n,) float64 seconds from the first frame (container pts, or index / fps)
        chunk.frames: (n, h, w) uint8 grayscale crop (luma plane directly when the format has one)
    reader.close(); also usable as a context manager.
    reader.decoded_frames / reader.truncated after iterating: frames that decoded, whether decoding
    stopped early (mid-stream corruption). A truncated stream warns with the count (warnings.warn).

Errors: InputError naming the file for: missing file, zero-byte file, not a video, no video stream,
folder with no images, ROI outside the frame, image folder without fps.
"""
