"""Frame quality flags: pixel measures, timestamps, and occlusion on synthetic grooming."""

import numpy as np
import pandas as pd
import pytest

from mouseface.features import quality as q
from mouseface.synth import simulate_experiment


@pytest.fixture(scope="module")
def grooming(tmp_path_factory):
    """A small experiment with frequent grooming (paws over the snout, marked in the truth)."""
    out = tmp_path_factory.mktemp("grooming")
    exp = simulate_experiment(out, n_animals=2, conditions=("malaise", "pain"), n_trials=3,
                              seed=5, baseline_s=6.0, iti_s=6.0, grooming_per_min=10.0,
                              workers=1)
    return exp


def test_occlusion_flags_on_synthetic_grooming(grooming):
    """Acceptance: >= 90 % of occluded frames flagged, <= 2 % of the others."""
    from mouseface.expressions.windows import label_frames
    from mouseface.io.video import open_video

    exp = grooming
    events = exp.events.assign(event=np.arange(len(exp.events)))
    parts = []
    for row in exp.sessions.itertuples(index=False):
        with open_video(exp.out / row.video, fps=row.fps) as reader:
            chunks = list(reader.iter_chunks())
        frames = np.concatenate([c.frames for c in chunks])
        time = np.concatenate([c.time for c in chunks])
        labels, _ = label_frames(time, events[events.session == row.session], 2.0)
        flags = q.quality_flags(frames, time, baseline=labels == "neutral",
                                hog_params={"pixels_per_cell": (16, 16)})
        truth = exp.truth[exp.truth.session == row.session]
        parts.append(flags.assign(truth=truth["occluded"].to_numpy(),
                                  intensity=truth["intensity"].to_numpy()))
    df = pd.concat(parts, ignore_index=True)
    assert df["truth"].sum() >= 50, "the fixture should hold enough grooming frames"
    recall = df.loc[df.truth, "occluded"].mean()
    false_pos = df.loc[~df.truth, "occluded"].mean()
    print(f"occluded frames flagged: {recall:.1%} of {int(df.truth.sum())}; clean frames "
          f"flagged: {false_pos:.2%} of {int((~df.truth).sum())}")
    assert recall >= 0.9, recall
    assert false_pos <= 0.02, false_pos
    # strong expressions are not occlusions
    assert df.loc[~df.truth & (df.intensity > 0.5), "occluded"].mean() <= 0.02
    assert (df["flag"] >= df["occluded"]).all()
    assert not df[["dark", "saturated", "duplicate", "dropped"]].any().any()


def test_frame_metrics_across_chunks():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (6, 16, 16)).astype(np.uint8)
    frames[3] = frames[2]
    whole = q.frame_metrics(frames)
    first, second = q.frame_metrics(frames[:3]), q.frame_metrics(frames[3:], frames[2])
    joined = pd.concat([first, second], ignore_index=True)
    pd.testing.assert_frame_equal(whole, joined)
    assert whole["duplicate"].tolist() == [False, False, False, True, False, False]
    assert np.isnan(whole["motion_energy"][0])
    assert whole["motion_energy"][4] == pytest.approx(
        np.abs(frames[4].astype(float) - frames[3]).mean())


def test_blur_dark_saturated_dropped():
    rng = np.random.default_rng(1)
    frames = rng.integers(40, 200, (8, 32, 32)).astype(np.uint8)
    frames[2] = 0  # lights off
    frames[3] = 255  # saturated
    frames[4] = 120  # no detail at all: blurry
    time = np.array([0, 0.05, 0.1, 0.15, 0.2, 0.4, 0.45, 0.5])  # a gap before frame 5
    t = q.quality_flags(frames, time)
    assert t["dark"].tolist() == [False, False, True] + [False] * 5
    assert t["saturated"].tolist() == [False] * 3 + [True] + [False] * 4
    assert t["blurry"][4] and not t["blurry"][0]
    assert t["dropped"].tolist() == [False] * 5 + [True, False, False]
    assert t["flag"].tolist() == [False, False, True, True, True, True, False, False]
    assert not t["occluded"].any() and t["occlusion"].isna().all()


def test_occlusion_needs_both_tests():
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[:40, :40]
    face = 100 + 40 * np.sin(xx / 5) * np.cos(yy / 7)
    frames = np.clip(face + rng.normal(0, 2, (30, 40, 40)), 0, 255).astype(np.uint8)
    frames[25] = np.clip(frames[25].astype(int) + 60, 0, 255)  # brighter everywhere
    frames[26, 10:30, 12:26] = 250  # an object
    t = q.quality_flags(frames, np.arange(30) / 20, baseline=np.arange(20),
                        hog_params={"pixels_per_cell": (8, 8)})
    assert t["occluded"].to_numpy().nonzero()[0].tolist() == [26]
    # a large shift is a flag of its own
    shifts = np.zeros((30, 2))
    shifts[5] = [3, 0]
    t = q.quality_flags(frames, np.arange(30) / 20, shifts=shifts)
    assert t["large_shift"][5] and t["flag"][5] and not t["flag"][6]


def test_bad_input():
    with pytest.raises(ValueError, match="times for"):
        q.quality_flags(np.zeros((3, 8, 8)), np.arange(2))
    with pytest.raises(ValueError, match="previous frame"):
        q.frame_metrics(np.zeros((2, 8, 8)), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="no baseline"):
        q.occlusion_reference(np.zeros((0, 8, 8)))
    with pytest.raises(ValueError, match="HOG length"):
        q.hog_outlier_z(np.zeros((2, 4)), np.ones((3, 5)))
    with pytest.raises(ValueError, match="batch of grayscale"):
        q.frame_metrics(np.zeros((2, 2, 2, 2)))


def test_occlusion_flags_through_the_one_pass(grooming, tmp_path):
    """The same acceptance through ``mouseface run``'s pass, where the region test runs only on
    frames whose HOG is already far from neutral: >= 90 % of occluded frames flagged, <= 2 % of
    the others, strong expressions not among them (the same rates as the test above, which
    runs the region test on every frame)."""
    from mouseface.settings import load_settings
    from mouseface.workflows import pipeline

    exp = grooming
    settings = load_settings(hog={"pixels_per_cell": (16, 16)}, prototypes={"baseline": 2.0})
    out = pipeline.run(exp.sessions_path, exp.events_path, tmp_path / "r", settings=settings,
                       quiet=True, report=False)
    f = pd.read_parquet(out / "frames.parquet").merge(
        exp.truth[["session", "frame", "occluded", "intensity"]].rename(
            columns={"occluded": "truth"}), on=["session", "frame"])
    tested = f["occlusion"].notna().mean()
    recall = f.loc[f.truth, "occluded"].mean()
    false_pos = f.loc[~f.truth, "occluded"].mean()
    print(f"one pass: occluded frames flagged {recall:.1%} of {int(f.truth.sum())}; clean "
          f"frames flagged {false_pos:.2%} of {int((~f.truth).sum())}; region test run on "
          f"{tested:.1%} of frames")
    assert recall >= 0.9 and false_pos <= 0.02
    assert f.loc[~f.truth & (f.intensity > 0.5), "occluded"].mean() <= 0.02
    # every occluded frame passed the gate: the region test ran where the flag needs it
    assert f.loc[f.occluded, "occlusion"].notna().all() and tested < 1.0


def test_frame_measures_is_frame_metrics_without_the_table():
    """The pass's per-batch array holds the table's values, columns in its order."""
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (6, 20, 24), dtype=np.uint8)
    frames[3] = frames[2]  # a duplicate
    frames[4, :5] = 0  # dark
    previous = rng.integers(0, 256, (20, 24), dtype=np.uint8)
    for f, prev in ((frames, previous), (frames, None), (frames.astype(np.float32), previous)):
        table = q.frame_metrics(f, prev)
        got = q.frame_measures(f, prev)
        assert got.dtype == np.float32 and got.shape == (6, 5)
        np.testing.assert_array_equal(got, table.to_numpy(np.float32))
        assert got[3, 4] == 1 and table["duplicate"].iloc[3]


def test_crop_measures_read_in_place_equal_measures_of_the_copied_crops():
    """The pass reads its measures from the region frames at the ROI, without copying the
    crops: the same numbers as :func:`frame_measures` of the crops."""
    rng = np.random.default_rng(4)
    region = rng.integers(0, 256, (5, 30, 34), dtype=np.uint8)
    region[2] = region[1]  # a duplicate
    region[3, 5:20] = 255  # saturated
    x0, y0, w, h = 3, 6, 25, 19
    crops = region[:, y0:y0 + h, x0:x0 + w]
    previous = rng.integers(0, 256, (h, w), dtype=np.uint8)
    for prev in (previous, None):
        got = q.crop_measures(region, (x0, y0, w, h), prev)
        np.testing.assert_array_equal(got, q.frame_measures(np.ascontiguousarray(crops), prev))
    assert got[2, 4] == 1 and got[3, 3] > 0.25



def test_crop_measures_exact_on_tall_crops_and_extreme_levels():
    """The measures' integer sums (gathered in 16-bit column sums over blocks of 256 rows)
    equal the sums in int64 on crops of more than 256 rows of the largest differences and
    Laplacians there are, and levels that make no pixel dark or saturated."""
    rng = np.random.default_rng(6)
    region = rng.choice(np.array([0, 255], np.uint8), (3, 600, 41))
    region[1, ::2] = 255 - region[0, ::2]  # every other row as different as pixels can be
    x0, y0, w, h = 2, 5, 37, 590
    crops = region[:, y0:y0 + h, x0:x0 + w].astype(np.int64)
    lap = (crops[:, :-2, 1:-1] + crops[:, 2:, 1:-1] + crops[:, 1:-1, :-2] + crops[:, 1:-1, 2:]
           - 4 * crops[:, 1:-1, 1:-1]).reshape(3, -1)
    inner = lap.shape[1]
    for dark, saturated in ((5, 250), (-1, 256), (0, 255)):
        got = q.crop_measures(region, (x0, y0, w, h), None, dark_level=dark,
                              saturated_level=saturated)
        motion = np.abs(np.diff(crops, axis=0)).reshape(2, -1).sum(axis=1) / (h * w)
        np.testing.assert_array_equal(got[1:, 0], motion.astype(np.float32))
        mean = lap.sum(axis=1) / inner
        np.testing.assert_array_equal(got[:, 1], ((lap ** 2).sum(axis=1) / inner - mean * mean)
                                      .astype(np.float32))
        np.testing.assert_array_equal(got[:, 2], (crops <= dark).reshape(3, -1).mean(axis=1)
                                      .astype(np.float32))
        np.testing.assert_array_equal(got[:, 3], (crops >= saturated).reshape(3, -1).mean(axis=1)
                                      .astype(np.float32))
    assert got[1, 0] > 127 and got[1, 1] > 1e5 and got[0, 2] > 0.4 and got[0, 3] > 0.4


def test_kth_smallest_is_the_sorted_value():
    """The occlusion test's median: the radix select gives the sorted array's value, with
    negative values, ties and a few distinct values; the value below it likewise."""
    rng = np.random.default_rng(7)
    for values in (rng.normal(0, 3, 6400), rng.integers(-2, 3, 999), np.full(10, 4.5),
                   np.array([-0.5]), rng.normal(0, 1, 100) * 1e-30,
                   np.concatenate([rng.normal(0, 1, 50), [np.inf, -np.inf]])):
        v = values.astype(np.float32)
        s = np.sort(v)
        keys, hist = np.empty(len(v), np.uint32), np.empty(2048, np.int64)
        for k in {0, len(v) // 2, len(v) - 1}:
            assert q._kth_smallest(v.copy(), k, keys, hist) == s[k]
            if k:
                assert q._below(v, s[k], k) == s[k - 1]

def _occlusion_by_scipy(frames, ref, novelty_k):
    """What :func:`occlusion_area` computes, in SciPy and NumPy's own steps."""
    from scipy import ndimage

    sm = ndimage.gaussian_filter(frames.astype(np.float32), (0, ref.sigma, ref.sigma),
                                 mode="nearest")
    sm -= np.median((sm - ref.median).reshape(len(sm), -1), axis=1)[:, None, None]
    thr = novelty_k * ref.noise
    novel = (sm > ref.high + thr) | (sm < ref.low - thr)
    out = np.zeros(len(frames))
    for i, f in enumerate(novel):
        labels, n = ndimage.label(f)  # 4-connected
        out[i] = np.bincount(labels.ravel())[1:].max() if n else 0
    return out / float(novel[0].size)


def test_occlusion_area_is_scipy_smoothing_median_and_labels_bit_for_bit():
    """The compiled occlusion test (smoothing, median offset, novel pixels, largest region)
    gives the bits of the SciPy and NumPy steps it replaces, odd and even pixel counts."""
    rng = np.random.default_rng(5)
    for k, (h, w) in enumerate(((31, 40), (17, 23), (9, 60))):
        yy, xx = np.mgrid[:h, :w]
        face = 100 + 50 * np.sin(xx / 4.0) * np.cos(yy / 5.0)
        base = np.clip(face + rng.normal(0, 3, (8, h, w)), 0, 255).astype(np.uint8)
        ref = q.occlusion_reference(base, sigma=(1.5, 0.8, 2.2)[k])
        frames = (face + rng.normal(0, 3, (6, h, w))).astype(np.float32)
        frames[1, 2:h // 2, 3:w // 2] = 250.0  # something bright
        frames[2, :, : w // 3] = 0.0
        frames[3] += 30.0  # brighter all over
        for novelty_k in (1.0, 8.0):
            want = _occlusion_by_scipy(frames, ref, novelty_k)
            got = q.occlusion_area(frames, ref, novelty_k=novelty_k)
            np.testing.assert_array_equal(got, want)
        assert got[1] > 0.05 and got[3] < got[1]
