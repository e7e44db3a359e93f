"""Both prototype estimators against scikit-learn's own estimator checks.

The checks feed integer labels 0, 1, 2; the estimators get ``neutral_label=0`` so that class 0
plays the baseline (neutral) frames the method needs. What still cannot apply is listed below
with the reason, as expected failures: a check that starts passing fails the run
(``xfail_strict``), so the list cannot go stale.
"""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from mouseface.expressions.prototypes import PrototypeModel
from mouseface.expressions.transfer import TransferModel

NO_NEUTRAL = ("the check's labels hold no class 0, the neutral (baseline) frames every "
              "prototype is measured against")
TWO_FEATURES = ("similarity is a Pearson r across features: on the check's 2-feature blobs "
                "every r is +1 or -1, so the frames cannot be told apart (HOG vectors have "
                "hundreds of entries)")

SHARED = {
    "check_estimators_dtypes": NO_NEUTRAL,
    "check_classifier_data_not_an_array": NO_NEUTRAL,
    "check_classifiers_classes": NO_NEUTRAL,
    "check_fit2d_1sample": NO_NEUTRAL,
    "check_classifiers_train": TWO_FEATURES,
}

EXPECTED = {
    "PrototypeModel": {
        **SHARED,
        "check_sample_weights_pandas_series": NO_NEUTRAL,
        "check_sample_weights_not_an_array": NO_NEUTRAL,
        "check_sample_weights_shape": NO_NEUTRAL,
        "check_sample_weights_not_overwritten": NO_NEUTRAL,
        "check_sample_weight_equivalence_on_dense_data": (
            "weights count in the neutral means only (a row standing for a block of baseline "
            "frames); a condition's prototype is a pick of its n_frames least-neutral frames, "
            "where a weight cannot stand for repeated frames"),
    },
    "TransferModel": dict(SHARED),
}


def _expected(estimator) -> dict[str, str]:
    return EXPECTED[type(estimator).__name__]


@parametrize_with_checks([PrototypeModel(neutral_label=0), TransferModel(neutral_label=0)],
                         expected_failed_checks=_expected, xfail_strict=True)
def test_scikit_learn_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("model", [PrototypeModel(), TransferModel()])
def test_unfitted_use_raises_not_fitted(model):
    X = np.ones((3, 4))
    for method in ("transform", "predict", "decision_function"):
        with pytest.raises(NotFittedError):
            getattr(model, method)(X)


def _faces(rng, n_animals=3, d=24, n=20):
    """Animals with their own faces; each condition adds the same change to every face."""
    changes = {"pain": np.r_[np.ones(4), np.zeros(d - 4)] * 2,
               "sucrose": np.r_[np.zeros(d - 4), np.ones(4)] * 2}
    X, y, g = [], [], []
    for a in range(n_animals):
        face = rng.random(d) * 3
        for label in ("neutral", *changes):
            X.append(face + changes.get(label, 0) + rng.normal(0, 0.2, (n, d)))
            y += [label] * n
            g += [a] * n
    return np.vstack(X), np.array(y), np.array(g)


def test_transfer_model_neutral_from_fit_state_or_keyword():
    rng = np.random.default_rng(0)
    X, y, g = _faces(rng)
    one = g == 0
    model = TransferModel().fit(X[one], y[one])
    # one training animal: its fitted neutral face is the one a baseline= would give
    np.testing.assert_array_equal(model.transform(X[one]),
                                  model.transform(X[one], baseline=X[one & (y == "neutral")]))
    multi = TransferModel().fit(X, y, groups=g)
    # groups seen in fit: each row against its own animal's fitted neutral face
    np.testing.assert_allclose(multi.transform(X, groups=g),
                               multi.transform(X, baseline=y == "neutral", groups=g))
    with pytest.raises(ValueError, match=r"groups \['7'\] were not in fit"):
        multi.transform(X[:3], groups=[7, 7, 7])
    with pytest.raises(TypeError):
        multi.transform(X, X[:5])  # no positional baseline
    saved = TransferModel.from_prototypes(multi.classes_, multi.prototypes_)
    with pytest.raises(ValueError, match="holds no neutral face"):
        saved.transform(X)


def test_transfer_model_in_a_pipeline_with_grouped_cross_validation():
    rng = np.random.default_rng(1)
    X, y, g = _faces(rng, n_animals=4)
    pipe = make_pipeline(FunctionTransformer(), TransferModel())

    def condition_accuracy(estimator, X, y):
        # predict assigns frames among the conditions: score the stimulus frames
        stim = y != "neutral"
        return (estimator.predict(X[stim]) == y[stim]).mean()

    scores = cross_val_score(pipe, X, y, groups=g, cv=GroupKFold(4), scoring=condition_accuracy)
    assert scores.min() > 0.9, scores


def test_original_labels_come_back():
    rng = np.random.default_rng(2)
    X, y, g = _faces(rng, n_animals=1)
    codes = np.select([y == "neutral", y == "pain"], [0, 5], 7)
    for model in (PrototypeModel(n_frames=5, neutral_label=0), TransferModel(neutral_label=0)):
        model.fit(X, codes)
        assert model.classes_.tolist() == [0, 5, 7]
        assert model.classes_.dtype.kind == "i"
        stim = codes != 0
        assert (model.predict(X[stim]) == codes[stim]).mean() > 0.9
    with pytest.raises(ValueError, match="Unknown label type"):
        PrototypeModel().fit(X, rng.random(len(X)))
