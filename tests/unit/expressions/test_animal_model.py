"""A saved model made one animal's own: whose prototypes, and its own neutral face."""

import numpy as np
import pytest

from mouseface._errors import InputError
from mouseface.expressions.animal_model import AnimalModel, prototypes_for
from mouseface.expressions.similarity import similarity
from mouseface.expressions.transfer import BaselineMoments, TransferModel, neutral_reference

NAMES = ["neutral", "pain"]


def test_the_models_one_set_or_the_animals_own():
    one = {"pooled": (NAMES, np.ones((2, 4)))}
    assert prototypes_for(one, "m9", "model")[0] == NAMES
    per = {"m1": (NAMES, np.zeros((2, 4))), "m2": (NAMES, np.ones((2, 4)))}
    assert prototypes_for(per, "m2", "model")[1].sum() == 8
    with pytest.raises(InputError, match="not for animal m3"):
        prototypes_for(per, "m3", "model")
    with pytest.raises(InputError, match="--animal"):
        prototypes_for(per, None, "model")


def test_pooled_neutral_is_the_animals_baseline_mean_and_the_saved_set_is_left_alone():
    rng = np.random.default_rng(1)
    saved = rng.random((2, 6))
    before = saved.copy()
    baseline = rng.random((30, 6))
    moments = BaselineMoments()
    moments.add(baseline[:10])
    moments.add(baseline[10:])
    own = AnimalModel.from_saved("pooled", NAMES, saved, moments)
    np.testing.assert_allclose(own.neutral, baseline.mean(axis=0))
    np.testing.assert_array_equal(saved, before)  # the next animal gets the saved neutral
    x = rng.random((5, 6))
    np.testing.assert_allclose(own.transform(x),
                               similarity(x, np.vstack([baseline.mean(0), saved[1]])))
    kept = AnimalModel.from_saved("pooled", NAMES, saved, BaselineMoments())
    np.testing.assert_array_equal(kept.neutral, saved[0])  # no baseline: the saved one


def test_transfer_scores_relative_to_the_animals_neutral_reference():
    rng = np.random.default_rng(2)
    protos = np.vstack([np.zeros(6), rng.normal(size=6)])
    baseline = rng.random((40, 6))
    moments = BaselineMoments()
    moments.add(baseline)
    own = AnimalModel.from_saved("transfer", NAMES, protos, moments)
    model = TransferModel.from_prototypes(NAMES, protos)
    x = rng.random((4, 6))
    np.testing.assert_allclose(own.transform(x),
                               model.transform(x, baseline=neutral_reference(baseline)),
                               atol=1e-12)
    with pytest.raises(ValueError, match="own neutral face"):
        AnimalModel.from_saved("transfer", NAMES, protos, BaselineMoments())


@pytest.mark.parametrize("mode", ["pooled", "transfer"])
def test_the_prepared_model_gives_transform_bit_for_bit(mode):
    """What live calls on every frame (prototypes standardised once, no input checks) is the
    model's own transform, to the last bit, one frame at a time or several."""
    rng = np.random.default_rng(3)
    protos = rng.random((3, 50))
    moments = BaselineMoments()
    moments.add(rng.random((30, 50)))
    own = AnimalModel.from_saved(mode, ["neutral", "pain", "fear"], protos, moments)
    prepared = own.prepared()
    x = rng.random((6, 50)).astype(np.float32)  # HOG as the pass gives it
    for i in range(len(x)):
        np.testing.assert_array_equal(prepared(x[i:i + 1]), own.transform(x[i:i + 1]))
    np.testing.assert_array_equal(prepared(x), own.transform(x))
    np.testing.assert_array_equal(prepared(x[0]), own.transform(x[:1]))
    with pytest.raises(ValueError, match="49 HOG entries; the model 50"):
        prepared(x[:, :49])
