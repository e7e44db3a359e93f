"""mouseface: facial expressions of emotion states in mice, and their neuronal correlates.

Follows Dolensek et al., Science 368:89-94 (2020): HOG features of the face, similarity to
prototype expressions, classification, and correlation with calcium imaging.

The door a program or a notebook uses (the command line calls the same functions)::

    import mouseface
    res = mouseface.run(sessions, events, out="results", config={"hog": {"pixels_per_cell": 16}})
    res.trials                       # one row per event: score_<prototype>, peak_<prototype>
    model = mouseface.fit(train_sessions, train_events, out="model")
    new = mouseface.score(model, test_sessions, test_events, out="scored")

``sessions`` and ``events`` are DataFrames or table files; see ``docs/python-api.md``.
Everything but :class:`InputError` loads on first use (PEP 562), so ``import mouseface`` stays
light: no numba, pandas or scikit-learn until a function needs them.
"""

from importlib import import_module

from mouseface._errors import InputError

#: Public name -> the module that defines it (imported when the name is first used).
_LAZY = {
    "run": "mouseface.workflows.pipeline",
    "fit": "mouseface.workflows.pipeline",
    "score": "mouseface.workflows.pipeline",
    "load_results": "mouseface.io.results",
    "Results": "mouseface.io.results",
    "load_settings": "mouseface.settings",
    "Settings": "mouseface.settings",
    "PrototypeModel": "mouseface.expressions.prototypes",
    "TransferModel": "mouseface.expressions.transfer",
    "ExpressionAxis": "mouseface.expressions.intensity",
    "LiveReadout": "mouseface.live.readout",
    "hog": "mouseface.features.hog",
}

__all__ = ["InputError", "__version__", *_LAZY]


def __getattr__(name: str):
    if name == "__version__":  # importlib.metadata is most of the cost of importing mouseface
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("mouseface")
        except PackageNotFoundError:  # pragma: no cover - a source tree never installed
            value = "0+unknown"
        globals()[name] = value
        return value
    if name not in _LAZY:
        raise AttributeError(f"module 'mouseface' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), "__version__", *_LAZY})
