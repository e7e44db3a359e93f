"""Traces with no value at all are said out loud, never reported as "0 of 10 neurons"."""

import warnings

import numpy as np
import pytest

from mouseface._errors import InputError
from mouseface.io.neural import NeuralTraces, read_suite2p, write_suite2p


def test_a_suite2p_f_that_is_all_nan_is_one_line(tmp_path):
    f = np.full((10, 200), np.nan, np.float32)
    folder = write_suite2p(tmp_path / "p", f, np.ones_like(f), fs=10.0)
    with pytest.raises(InputError, match=r"every one of the 10 traces is NaN"):
        read_suite2p(folder)


def test_some_all_nan_neurons_are_a_warning_naming_them():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 200))
    x[[2, 7]] = np.nan
    with pytest.warns(UserWarning, match=r"2 of 10 neurons have no value at any frame "
                                         r"\(all NaN\): 2, 7"):
        nt = NeuralTraces.from_numpy(x, rate=10.0)
    assert nt.n_neurons == 10


def test_finite_traces_say_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        NeuralTraces.from_numpy(np.ones((3, 20)), rate=10.0)
