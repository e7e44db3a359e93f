"""One animal's face in every state: the figure a person looks at to judge the renderer."""

from __future__ import annotations

import math
from pathlib import Path

from mouseface._atomic import atomic_path
from mouseface.synth.animals import Animal, make_animal
from mouseface.synth.face import render_face
from mouseface.synth.states import STATES


def state_figure(path: str | Path, animal_seed: int | None = 0, size: int = 256, *,
                 intensity: float = 1.0, ncols: int = 4) -> Path:
    """Save a PNG grid of one animal's face in every state of ``STATES`` at ``intensity``.

    Parameters
    ----------
    path
        Where to write the PNG (written atomically).
    animal_seed
        Seed of the animal (``make_animal(animal_seed)``); ``None`` for the canonical animal.
    size
        Side of each face in pixels.
    intensity
        Expression intensity of every state.
    ncols
        Faces per row.

    Returns
    -------
    Path
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    animal: Animal | None = None if animal_seed is None else make_animal(animal_seed)
    states = list(STATES)
    nrows = math.ceil(len(states) / ncols)
    fig = Figure(figsize=(2.7 * ncols, 3.0 * nrows + 0.4), dpi=max(100, round(size / 2.4)),
                 layout="constrained")
    for k, state in enumerate(states):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        img = render_face(state, intensity, size=(size, size), animal=animal)
        ax.imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="antialiased")
        ax.set_title(state.replace("_", " "), fontsize=11)
        ax.set_axis_off()
    for k in range(len(states), nrows * ncols):
        fig.add_subplot(nrows, ncols, k + 1).set_axis_off()
    fig.suptitle(f"synthetic mouse face, every state at intensity {intensity:g}", fontsize=12)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


__all__ = ["state_figure"]
