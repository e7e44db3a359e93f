"""mouseface: facial expressions of emotion states in mice, and their neuronal correlates.

Follows Dolensek et al., Science 368:89-94 (2020): HOG features of the face, similarity to
prototype expressions, classification, and correlation with calcium imaging.
"""

from mouseface._errors import InputError
from mouseface.features.hog import hog

__version__ = "0.1.0"

__all__ = ["InputError", "hog", "load_results", "__version__"]


def __getattr__(name: str):
    # load_results pulls in pandas/zarr; import lazily so `import mouseface` stays light.
    if name == "load_results":
        from mouseface.io.results import load_results

        return load_results
    raise AttributeError(name)
