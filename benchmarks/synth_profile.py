"""Where the demo's simulation spends its CPU: the demo's ``simulate_experiment`` in this one
process (``workers=1``), each part's thread CPU seconds summed over the 31098 frames.

The parts are the rendering functions, wrapped (a wrapper costs about a microsecond a call):
the face's layout in Python (``_face_primitives``), the primitive table (``to_pixels``, with
the keypoints where it places them), the compiled face kernel (``_composite``) and finish,
the body strip of the fear sessions (its own layout, kernel and light), all the frames as the
encoder asks for them, and ``write_video`` given the frames already drawn (x264 and the hand-
over to PyAV). Run it with another tree's ``src`` first on ``PYTHONPATH`` to compare:

    PYTHONPATH=/tmp/base/src python benchmarks/synth_profile.py
    python benchmarks/synth_profile.py
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import defaultdict

T: dict[str, float] = defaultdict(float)
N: dict[str, int] = defaultdict(int)


def wrap(owner, name: str, key: str) -> None:
    f = getattr(owner, name, None)
    if f is None:
        return

    def timed(*a, **k):
        t = time.thread_time()
        try:
            return f(*a, **k)
        finally:
            T[key] += time.thread_time() - t
            N[key] += 1

    setattr(owner, name, timed)


def main() -> None:
    t0 = time.thread_time()
    from mouseface import synth
    from mouseface.synth import behaviour, experiment, face
    from mouseface.workflows import demo as d

    T["imports"] = time.thread_time() - t0
    face.render_face("neutral", size=(128, 128))  # the kernels loaded before the timing
    wrap(face, "_face_primitives", "face layout (Python)")
    wrap(face._Prims, "to_pixels", "face table (+ keypoints)")
    wrap(face._Prims, "points_to_pixels", "face keypoints")
    wrap(face, "_composite", "face kernel")
    wrap(face, "_finish", "face finish")
    wrap(face.FaceRenderer, "render", "face, all")
    wrap(behaviour.BodyRenderer, "render", "body strip, all")
    write = experiment.write_video

    def write_video(path, frames, fps, **kw):
        t = time.thread_time()
        drawn = [f.copy() for f in frames]
        T["frames, all (face, body, loop)"] += time.thread_time() - t
        t = time.thread_time()
        write(path, drawn, fps, **kw)
        T["write_video (x264, hand-over)"] += time.thread_time() - t
        N["frames"] += len(drawn)

    experiment.write_video = write_video
    with tempfile.TemporaryDirectory() as out:
        t = time.thread_time()
        synth.simulate_experiment(out, n_animals=4, n_trials=4, seed=0,
                                  conditions=d.DEMO_CONDITIONS, needs=d.DEMO_NEEDS, fear=True,
                                  fear_shocks=4, fear_items=d.DEMO_FEAR_ITEMS, size=d.DEMO_SIZE,
                                  preset="ultrafast", crf=21, keypoints=True, workers=1)
        T["simulate_experiment"] = time.thread_time() - t
    print(f"{N['frames']} frames, load {os.getloadavg()[0]:.1f}; CPU s (ms a frame)")
    for key, v in T.items():
        print(f"{key:32s} {v:6.2f} ({1e3 * v / max(N['frames'], 1):.3f})")


if __name__ == "__main__":
    main()
