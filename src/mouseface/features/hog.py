"""Histogram of oriented gradients, batched and compiled, equal to ``skimage.feature.hog``.

CONTRACT (implemented by the features helper):

    hog(image, orientations=8, pixels_per_cell=(32, 32), cells_per_block=(1, 1),
        block_norm="L2-Hys", *, transform_sqrt=True, feature_vector=True) -> ndarray
      image (H, W) -> (D,) ; batch (N, H, W) -> (N, D); float32 output for uint8/float32 input.
      feature_vector=False -> (n_blocks_row, n_blocks_col, b_row, b_col, orientations) per image
      (batch: leading N). Same element order and values as skimage (max abs diff <= 1e-5).
    hog_shape(image_shape, pixels_per_cell, cells_per_block, orientations) -> tuple  (unflattened)
"""


def hog(*args, **kwargs):  # placeholder until the kernel lands
    from skimage.feature import hog as _sk

    return _sk(*args, **kwargs)
