"""Draw docs/fear_frames.png: a synthetic fear-session frame in each behaviour of the context.

    python docs/fear_frames.py [OUT.png]

The frames come from the renderers ``simulate_experiment(fear=True)`` uses: the animal's face
(:class:`mouseface.synth.FaceRenderer`) above the body on its running wheel
(:class:`mouseface.synth.behaviour.BodyRenderer`), with the body and wheel regions of the
sessions table outlined.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mouseface.synth import FaceRenderer, Paw, make_animal, state_actions  # noqa: E402
from mouseface.synth.behaviour import BodyRenderer, body_regions  # noqa: E402
from mouseface.synth.face import _background  # noqa: E402

SIZE = (160, 160)
PANELS = [  # title, face state, face extra, body arguments
    ("quiet wakefulness", "neutral", {}, {"limbs": np.array([2.0, -1.0, -2.0, 1.0])}),
    ("freezing (passive fear)", "passive_fear", {}, {}),
    ("escape (active fear)", "active_fear", {"whisker_angle": 12.0},
     {"gait": 1.0, "gait_phase": 1.3, "wheel_angle": 2.0}),
    ("grooming", "neutral", {}, {"groom": 1.0, "groom_phase": 0.8}),
    ("still, whisking", "neutral", {"whisker_angle": 14.0}, {}),
]


def main(out: Path) -> Path:
    animal = make_animal(3)
    face = FaceRenderer(animal, SIZE)
    body = BodyRenderer(animal, SIZE[1], _background(animal.seed, *SIZE, animal.background))
    rng = np.random.default_rng(0)
    fig, axes = plt.subplots(1, len(PANELS), figsize=(3.0 * len(PANELS), 3.6))
    for ax, (title, state, extra, kw) in zip(axes, PANELS, strict=True):
        paw = Paw(1.0, -0.01, 0.0) if kw.get("groom") else Paw()
        top = face.render(state_actions(state, 1.0, extra), paw=paw,
                          noise=rng.normal(0, 2.5, SIZE).astype(np.float32))
        bottom = body.render(groom_x=(0.627 - 0.01) * SIZE[1],
                             noise=rng.normal(0, 2.5, (body.height, SIZE[1])), **kw)
        ax.imshow(np.vstack([top, bottom]), cmap="gray", vmin=0, vmax=255)
        for (x, y, w, h), colour in zip(body_regions(SIZE).values(), ("c", "y"), strict=True):
            ax.add_patch(plt.Rectangle((x - 0.5, y - 0.5), w, h, fill=False, ec=colour, lw=1))
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    return out


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name(
        "fear_frames.png")))
