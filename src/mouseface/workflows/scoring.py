"""The stages after the pass: prototypes, similarities and trial scores from the stores.

:mod:`mouseface.workflows.pipeline` runs them once :func:`~mouseface.workflows.prepare.prepare`
has filled the feature stores. `run` (:func:`per_animal`) scores with
:mod:`mouseface.expressions.fitting` and never imports scikit-learn; `fit` and `score` use the
estimators (:class:`~mouseface.expressions.prototypes.PrototypeModel`,
:class:`~mouseface.expressions.transfer.TransferModel`,
:class:`~mouseface.expressions.intensity.ExpressionAxis`), imported when they are called.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mouseface._errors import InputError
from mouseface._progress import Reporter
from mouseface.expressions.fitting import Axes, BaselineMoments, FittedPrototypes, axes_from
from mouseface.expressions.similarity import similarity
from mouseface.expressions.trials import (
    TrialFrames,
    crossfit_prototypes,
    score_row,
)
from mouseface.expressions.windows import NEUTRAL, label_frames, trial_frames
from mouseface.io.model import load_array
from mouseface.io.store import FeatureStore
from mouseface.settings import Settings

if TYPE_CHECKING:
    from mouseface.expressions.intensity import ExpressionAxis


def per_animal(p, settings: Settings, reporter: Reporter):
    """`run`: each animal's prototypes from its own frames, every frame and trial scored.

    The stores are streamed block by block (neutral face, then the least-neutral candidates,
    then the trial windows' similarities), so memory does not grow with the length of the
    sessions. Returns the per-session frame tables, the trial scores, the fitted models by
    animal and the frames each prototype averaged (``model``, ``prototype``, ``session``,
    ``frame``: what the report's mean faces show).
    """
    sessions, events, stores = p.sessions, p.events, p.stores
    exclude = (_first_trials(events, sessions)
               if settings.prototypes.exclude_first_trial else None)
    frames, scores, models, picked = [], [], {}, []
    task = reporter.task("scoring", total=len(stores), unit="sessions")
    for animal, srows in sessions.groupby("animal", sort=False):
        a_stores = {s: stores[s] for s in srows["session"]}
        _check_same_shape(a_stores, f"animal {animal}")
        frames_of = _AnimalFrames(a_stores, events, settings, exclude,
                                  _excluding(p.quality, settings))
        why = frames_of.missing()
        if why:
            warnings.warn(f"animal {animal}: {why}, no prototypes; its frames are in "
                          "frames.parquet without similarities", stacklevel=1)
            for session, st in a_stores.items():
                frames.append(_frame_table(st, session, str(animal), _no_similarity,
                                           p.labels[session], [],
                                           p.frame_extras(session, st.n_frames)))
                task.advance()
            continue
        model, s = frames_of.fit_and_crossfit(settings.prototypes.n_frames)
        axis, grades = frames_of.grade()
        models[str(animal)] = model
        scores.append(s if grades is None else s.join(grades))
        picked.append(frames_of.picked_frames().assign(model=str(animal)))
        for session, st in a_stores.items():
            frames.append(_frame_table(st, session, str(animal), model.transform_array,
                                       p.labels[session], model.classes_,
                                       p.frame_extras(session, st.n_frames), grade=axis))
            task.advance()
    return frames, scores, models, _picked_table(picked)


def _picked_table(parts: list[pd.DataFrame]) -> pd.DataFrame:
    cols = ["model", "prototype", "session", "frame"]
    return (pd.concat(parts, ignore_index=True)[cols] if parts
            else pd.DataFrame({c: pd.Series(dtype=object if c != "frame" else np.int64)
                               for c in cols}))


class _LeastNeutral:
    """The ``n`` rows least correlated with neutral among those added, kept in the order they
    were added (ties: the earlier row), so that :func:`least_neutral_frames` over them picks
    what it would pick over every row added."""

    def __init__(self, n: int):
        self.n = n
        self.x: np.ndarray | None = None
        self.r = np.empty(0)
        self.order = np.empty(0, np.int64)

    def add(self, x: np.ndarray, r: np.ndarray, order: np.ndarray) -> None:
        if not len(x):
            return
        r = np.where(np.isnan(r), np.inf, r)
        xs = x if self.x is None else np.concatenate([self.x, x])
        rs, os_ = np.concatenate([self.r, r]), np.concatenate([self.order, order])
        pick = np.sort(np.lexsort((os_, rs))[: self.n])  # by r, then order; back in order
        self.x, self.r, self.order = xs[pick], rs[pick], os_[pick]

    def rows(self, n_features: int) -> np.ndarray:
        return np.empty((0, n_features)) if self.x is None else self.x


class _AnimalFrames:
    """One animal's labelled frames and trial windows, read from its stores in blocks.

    What :meth:`fit_and_crossfit` returns equals fitting :class:`PrototypeModel` on every
    labelled, unflagged frame and cross-fitting the trials over every frame of their windows
    (see :func:`~mouseface.expressions.trials.crossfit_prototypes`), without holding them:
    only the neutral sum, each condition's and each trial's ``n_frames`` least-neutral frames,
    and the windows' similarities (a few numbers per frame) stay in memory.
    """

    def __init__(self, stores: dict, events: pd.DataFrame, settings: Settings,
                 exclude: np.ndarray | None, quality: dict[str, pd.DataFrame] | None):
        baseline = settings.prototypes.baseline
        self.stores = {}
        self.keep: dict[str, np.ndarray] = {}
        self.labels: dict[str, np.ndarray] = {}
        self.trials: list[dict] = []
        offset = 0
        self.offset: dict[str, int] = {}
        for session, store in stores.items():
            ev = events[events["session"] == session]
            if ev.empty:
                continue
            t = store.time
            ok = np.ones(len(t), bool)
            if quality is not None and session in quality:
                ok = ~quality[session]["flag"].to_numpy(dtype=bool)[: len(t)]
            ex = None if exclude is None else exclude[ev.index.to_numpy()]
            labels, _ = label_frames(t, ev, baseline, exclude=ex)
            self.stores[session] = store
            self.labels[session] = labels
            self.keep[session] = (labels != "") & ok
            self.offset[session] = offset
            offset += len(t)
            for k, row in enumerate(ev.itertuples(index=False)):
                b, s_ = trial_frames(t, row.onset, row.duration, baseline)
                self.trials.append({"event": int(row.event), "condition": str(row.trial_type),
                                    "session": session, "baseline": b, "stimulus": s_,
                                    "in_prototype": not (ex is not None and ex[k]),
                                    "usable": ok[s_]})
        self.n_features = next(iter(stores.values())).n_features if stores else 0
        self._neutral: BaselineMoments | None = None
        self._sums: _ConditionSums | None = None
        self._graded: tuple[Axes | None, pd.DataFrame | None] | None = None

    def missing(self) -> str:
        """Why no prototypes can be built ('' when they can); warns of conditions whose
        every frame is flagged, as the in-memory path did."""
        lost: dict[str, list[bool]] = {}
        n_kept = n_neutral = 0
        for session, labels in self.labels.items():
            keep = self.keep[session]
            n_kept += int(keep.sum())
            n_neutral += int((keep & (labels == NEUTRAL)).sum())
            for name in set(labels[labels != ""]):
                lost.setdefault(name, []).append(bool((keep & (labels == name)).any()))
        _warn_flagged(lost, self.stores)
        if n_kept and n_neutral:
            return ""
        return ("no events" if not self.trials else
                "no unflagged baseline frames" if n_kept else
                "every labelled frame is flagged")

    def _blocks(self):
        for session, store in self.stores.items():
            for start, x in store.iter_blocks():
                yield session, start, x

    def _in_block(self, session: str, which: str, start: int, stop: int):
        """(trial number, positions in its window, rows in the block) of the trials of
        ``session`` whose ``which`` window meets frames [start, stop)."""
        for k, tr in enumerate(self.trials):
            idx = tr[which]
            if tr["session"] != session or not len(idx) or idx[-1] < start or idx[0] >= stop:
                continue
            at = np.flatnonzero((idx >= start) & (idx < stop))
            yield k, at, idx[at] - start

    def kept_blocks(self, which: str | None = None):
        """Blocks ``(hog, labels)`` of the kept labelled frames: ``"neutral"`` the baseline
        frames, ``"stimulus"`` the conditions' frames, None all of them."""
        for session, start, x in self._blocks():
            lab = self.labels[session][start:start + len(x)]
            m = self.keep[session][start:start + len(x)]
            if which is not None:
                m = m & ((lab == NEUTRAL) if which == "neutral" else (lab != NEUTRAL))
            if m.any():
                yield x[m], lab[m]

    def neutral(self) -> BaselineMoments:
        """Count, mean and spread of the kept baseline frames (read once, then kept)."""
        if self._neutral is None:
            self._neutral = BaselineMoments()
            for x, _ in self.kept_blocks("neutral"):
                self._neutral.add(x)
        return self._neutral

    def window_scores(self, *readouts, each_block=None) -> list[pd.DataFrame | None]:
        """Each trial's scores from its windows' readouts, all in one read of the stores: per
        readout ``(readout_of, names)``, ``readout_of(k, hog)`` gives trial ``k``'s frames'
        values, columns in ``names`` order; one table per readout (None without trials).
        ``each_block(session, start, hog)`` sees every block of the same read."""
        if not self.trials:
            return [None] * len(readouts)
        vals = [{k: {"baseline": [], "stimulus": []} for k in range(len(self.trials))}
                for _ in readouts]
        for session, start, x in self._blocks():
            if each_block is not None:
                each_block(session, start, x)
            stop = start + len(x)
            for which in ("baseline", "stimulus"):
                for k, _, rows in self._in_block(session, which, start, stop):
                    for (readout_of, _), v in zip(readouts, vals, strict=True):
                        v[k][which].append(readout_of(k, x[rows]))
        return [pd.DataFrame([score_row(tr["event"], _stack(v[k]["baseline"], len(names)),
                                        _stack(v[k]["stimulus"], len(names)), names)
                              for k, tr in enumerate(self.trials)]).set_index("event")
                for (_, names), v in zip(readouts, vals, strict=True)]

    def least_neutral(self, neutral: np.ndarray, n_frames: int, *, per_trial: bool = False
                      ) -> tuple[dict[str, _LeastNeutral], list[_LeastNeutral]]:
        """Each condition's ``n_frames`` kept frames least like ``neutral`` and, with
        ``per_trial``, each trial's (among its usable stimulus frames), in one pass, which also
        sums each condition's and trial's frames for the expression axes (:meth:`grade`)."""
        self._sums = _ConditionSums(self, per_trial=per_trial)
        conditions = sorted({c for lab in self.labels.values() for c in set(lab)}
                            - {"", NEUTRAL})
        by_label = {c: _LeastNeutral(n_frames) for c in conditions}
        by_trial = [_LeastNeutral(n_frames) for _ in self.trials] if per_trial else []
        for session, start, x in self._blocks():
            self._sums.add(session, start, x)
            stop = start + len(x)
            lab = self.labels[session][start:stop]
            keep = self.keep[session][start:stop]
            for c in conditions:
                rows = np.flatnonzero(keep & (lab == c))
                if len(rows):
                    xc = x[rows].astype(np.float64)
                    by_label[c].add(xc, similarity(xc, neutral[None, :])[:, 0],
                                    self.offset[session] + start + rows)
            for k, at, rows in (self._in_block(session, "stimulus", start, stop)
                                if per_trial else ()):
                tr = self.trials[k]
                use = tr["usable"][at]
                if tr["in_prototype"] and use.any():
                    # as stored (float32): the prototypes' means come out as the in-memory
                    # cross-fit's, bit for bit
                    xs = x[rows[use]]
                    by_trial[k].add(xs, similarity(xs, neutral[None, :])[:, 0], at[use])
        return by_label, by_trial

    def summary(self, n_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows that fit :class:`PrototypeModel` as all the kept labelled frames would:
        the neutral mean (its weight: the baseline frames it stands for), then each
        condition's least-neutral frames (weight 1). Empty when no baseline frame is kept."""
        neutral = self.neutral()
        if neutral.n == 0:
            return np.empty((0, self.n_features)), np.empty(0, str), np.empty(0)
        by_label, _ = self.least_neutral(neutral.mean, n_frames)
        return self._rows(neutral, by_label)

    def _rows(self, neutral: BaselineMoments, by_label: dict[str, _LeastNeutral]):
        conditions = sorted(by_label)
        X = np.vstack([neutral.mean[None, :], *(by_label[c].rows(self.n_features)
                                                for c in conditions)])
        y = np.array([NEUTRAL, *(c for c in conditions for _ in range(len(by_label[c].r)))])
        return X, y, np.r_[neutral.n, np.ones(len(y) - 1)]

    def fit_and_crossfit(self, n_frames: int) -> tuple[FittedPrototypes, pd.DataFrame]:
        """The animal's prototypes and its trials' cross-fitted scores; the read of the
        trial windows also grades them (what :meth:`grade` then returns)."""
        neutral = self.neutral()
        by_label, by_trial = self.least_neutral(neutral.mean, n_frames, per_trial=True)
        self._picked = by_label
        X, y, w = self._rows(neutral, by_label)
        model = FittedPrototypes.fit(X, y, n_frames, NEUTRAL, weights=w)
        trials = [TrialFrames(tr["event"], tr["condition"], np.empty((0, self.n_features)),
                              by_trial[k].rows(self.n_features), tr["in_prototype"])
                  for k, tr in enumerate(self.trials)]
        names, protos = crossfit_prototypes(trials, n_frames=n_frames,
                                            neutral=model.prototypes_[0])
        similarities = (lambda k, x: similarity(x, protos[k]), names)
        grading = self._grading()
        if grading is None:
            [scores] = self.window_scores(similarities)
            self._graded = (None, None)
        else:
            scores, raw = self.window_scores(similarities, grading.readout,
                                             each_block=grading.baseline_spread)
            self._graded = grading.finish(raw)
        return model, scores

    def grade(self) -> tuple[Axes | None, pd.DataFrame | None]:
        """Each condition's expression axis and every trial's grade on it, cross-fitted.

        The axis of a condition runs from the neutral mean to the mean of all its kept frames
        (:class:`~mouseface.expressions.intensity.ExpressionAxis`); a trial is graded on its
        condition's axis rebuilt without its own frames, in units of the spread of the
        baseline frames on the full axis. Trial columns: ``grade_<c>`` (peak in the stimulus
        window minus the baseline mean) and ``grade_mean_<c>`` (window mean minus it). After
        :meth:`fit_and_crossfit`, what its read of the windows graded; otherwise the stores are
        read for it.
        """
        if self._graded is None:
            grading = self._grading()
            if grading is None:
                return None, None
            [raw] = self.window_scores(grading.readout, each_block=grading.baseline_spread)
            self._graded = grading.finish(raw)
        return self._graded

    def _grading(self) -> _Grading | None:
        """The cross-fitted axes of the animal's trials, from the condition sums (those of the
        least-neutral read, or one read of the stores); None without baseline or conditions."""
        neutral = self.neutral()
        means = self.condition_means(per_trial=True)
        if neutral.n == 0 or means is None:
            return None
        return _Grading(self, neutral.mean, means)

    def condition_means(self, *, per_trial: bool = False) -> _ConditionSums | None:
        """Sums and counts of each condition's kept frames (and, with ``per_trial``, of each
        trial's own frames of its condition): what :meth:`fit_and_crossfit` gathered on its
        way, or one read of the stores. None without conditions or frames."""
        sums = self._sums
        if sums is None or (per_trial and not sums.per_trial):
            sums = _ConditionSums(self, per_trial=per_trial)
            for session, start, x in self._blocks():
                sums.add(session, start, x)
        return sums if sums.conditions and sums.sums is not None else None

    def scaled(self, axis: ExpressionAxis) -> ExpressionAxis:
        """``axis`` in units of the spread of this animal's kept baseline frames along it."""
        return axis.scaled(x for x, _ in self.kept_blocks("neutral"))

    def picked_frames(self) -> pd.DataFrame:
        """The frames the last :meth:`fit_and_crossfit` averaged into each condition's
        prototype (``prototype``, ``session``, ``frame``), in the sessions' order."""
        names = list(self.offset)
        starts = np.array([self.offset[s] for s in names], np.int64)
        parts = []
        for c in sorted(self._picked):
            rows = self._picked[c].order
            k = np.searchsorted(starts, rows, side="right") - 1
            parts.append(pd.DataFrame({"prototype": c, "session": [names[i] for i in k],
                                       "frame": rows - starts[k]}))
        return (pd.concat(parts, ignore_index=True) if parts else
                pd.DataFrame({"prototype": [], "session": [], "frame": []}))


class _ConditionSums:
    """Sums and counts of an animal's kept frames per condition and, with ``per_trial``, of
    each trial's own frames of its condition, added block by block (as wide as the blocks: a
    mask keeps only some HOG entries)."""

    def __init__(self, frames: _AnimalFrames, *, per_trial: bool):
        self.frames = frames
        self.per_trial = per_trial
        self.conditions = sorted({c for lab in frames.labels.values() for c in set(lab)}
                                 - {"", NEUTRAL})
        self.counts = np.zeros(len(self.conditions))
        self.own_n = np.zeros(len(frames.trials))
        self.sums: np.ndarray | None = None
        self.own: np.ndarray | None = None

    def add(self, session: str, start: int, x: np.ndarray) -> None:
        if not self.conditions:
            return
        if self.sums is None:
            self.sums = np.zeros((len(self.conditions), x.shape[1]))
            self.own = np.zeros((len(self.frames.trials), x.shape[1]))
        stop = start + len(x)
        lab = self.frames.labels[session][start:stop]
        keep = self.frames.keep[session][start:stop]
        for j, c in enumerate(self.conditions):
            m = keep & (lab == c)
            if m.any():
                self.sums[j] += x[m].sum(axis=0, dtype=np.float64)
                self.counts[j] += m.sum()
        for k, _, rows in (self.frames._in_block(session, "stimulus", start, stop)
                           if self.per_trial else ()):
            rows = rows[keep[rows] & (lab[rows] == self.frames.trials[k]["condition"])]
            self.own[k] += x[rows].sum(axis=0, dtype=np.float64)
            self.own_n[k] += len(rows)


class _Grading:
    """One animal's grading, set up before its read of the trial windows: each trial's axis
    (its condition's rebuilt without its own frames, in raw units), the readout that projects
    the windows on them and the baseline spread on the full axes, measured in the same read;
    :meth:`finish` divides by it (the grades are linear in its unit)."""

    def __init__(self, frames: _AnimalFrames, neutral: np.ndarray, means: _ConditionSums):
        self.frames = frames
        self.conditions = means.conditions
        sums, counts, own, own_n = means.sums, means.counts, means.own, means.own_n
        col = {c: j for j, c in enumerate(self.conditions)}
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = sums / counts[:, None]
        self.full = Axes.from_means(self.conditions, neutral, mean)  # in raw units

        def crossfit(k: int) -> Axes:
            j = col.get(frames.trials[k]["condition"])
            if j is None or not own_n[k]:
                return self.full
            rest = mean.copy()
            with np.errstate(invalid="ignore", divide="ignore"):
                rest[j] = (sums[j] - own[k]) / (counts[j] - own_n[k])
            return Axes.from_means(self.conditions, neutral, rest)

        self.axes = [crossfit(k) for k in range(len(frames.trials))]
        self.spread = BaselineMoments()
        self.readout = (lambda k, x: _project(self.axes[k], x), list(self.conditions))

    def baseline_spread(self, session: str, start: int, x: np.ndarray) -> None:
        stop = start + len(x)
        m = (self.frames.keep[session][start:stop]
             & (self.frames.labels[session][start:stop] == NEUTRAL))
        if m.any():
            self.spread.add(_project(self.full, x[m]))

    def finish(self, raw: pd.DataFrame | None) -> tuple[Axes, pd.DataFrame | None]:
        """The axis in baseline spreads and the trials' grades (``raw``: their window scores
        in raw units) in the same unit."""
        axis = axes_from(self.conditions, self.full.axes_, self.full.neutral_, self.spread.sd)
        if raw is None:
            return axis, None
        grades = _grade_columns(raw, self.conditions)  # grade_<c> then grade_mean_<c>
        return axis, grades / np.tile(axis.scale_, 2)


def _grade_columns(scores: pd.DataFrame, conditions) -> pd.DataFrame:
    """A readout's ``peak_<c>``/``score_<c>`` columns as ``grade_<c>``/``grade_mean_<c>``."""
    renamed = {f"peak_{c}": f"grade_{c}" for c in conditions}
    renamed |= {f"score_{c}": f"grade_mean_{c}" for c in conditions}
    return scores[list(renamed)].rename(columns=renamed)


def _stack(parts: list[np.ndarray], n: int) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty((0, n))


def fit_model(p, settings: Settings, events_path):
    """`fit`: one model over every animal's frames; returns its mode and the fitted model.

    Transfer models (the default) are fitted block by block
    (:meth:`~mouseface.expressions.transfer.TransferModel.partial_fit`), each animal's baseline
    frames before its stimulus frames, so memory does not grow with the training sessions;
    pooled prototypes choose each animal's least-neutral frames from all of them at once.
    """
    from mouseface.expressions.prototypes import PrototypeModel
    from mouseface.expressions.transfer import TransferModel

    sessions, events, stores = p.sessions, p.events, p.stores
    _check_same_shape(stores, "the model")
    exclude = (_first_trials(events, sessions)
               if settings.prototypes.exclude_first_trial else None)
    mode = settings.prototypes.mode
    animals = [(str(animal), {s: stores[s] for s in srows["session"]})
               for animal, srows in sessions.groupby("animal", sort=False)]
    try:
        if mode == "transfer":
            model, fed = TransferModel(control=settings.prototypes.control), False
            for animal, a_stores in animals:
                frames_of = _AnimalFrames(a_stores, events, settings, exclude,
                                          _excluding(p.quality, settings))
                frames_of.missing()  # warns of conditions whose every frame is flagged
                for which in ("neutral", "stimulus"):
                    for x, y in frames_of.kept_blocks(which):
                        model.partial_fit(x, y, groups=np.full(len(y), animal, dtype=object))
                        fed = True
            if not fed:
                raise InputError("no events fall on any session: nothing to fit", events_path)
            control = settings.prototypes.control
            if control is not None and control not in model.classes_:
                raise ValueError(f"control condition {control!r} is not among the "
                                 f"conditions {model.classes_[1:].tolist()}")
            return mode, model
        xs, ys, gs, ws = [], [], [], []
        for animal, a_stores in animals:
            frames_of = _AnimalFrames(a_stores, events, settings, exclude,
                                      _excluding(p.quality, settings))
            frames_of.missing()  # warns of conditions whose every frame is flagged
            X, y, w = frames_of.summary(settings.prototypes.n_frames)
            if not len(X):  # no baseline frame: one block of the rest lets the estimator say so
                X, y = next(frames_of.kept_blocks("stimulus"), (X, y))
                w = np.ones(len(y))
            if len(X):
                xs.append(X)
                ys.append(y)
                ws.append(w)
                gs.append(np.full(len(y), animal, dtype=object))
        if not xs:
            raise InputError("no events fall on any session: nothing to fit", events_path)
        X, y, g = np.concatenate(xs), np.concatenate(ys), np.concatenate(gs)
        model = PrototypeModel(n_frames=settings.prototypes.n_frames).fit(
            X, y, groups=g, sample_weight=np.concatenate(ws))
    except ValueError as exc:
        raise InputError(f"cannot fit {mode} prototypes: {exc}", events_path) from None
    return mode, model


def fit_axis(p, settings: Settings) -> ExpressionAxis | None:
    """`fit`: each condition's expression axis over the training animals (each animal's change
    from its own neutral face, averaged over the animals that have the condition), for ``score``
    to grade new animals from their own neutral. None when no animal has baseline and stimulus
    frames."""
    from mouseface.expressions.intensity import ExpressionAxis

    exclude = (_first_trials(p.events, p.sessions)
               if settings.prototypes.exclude_first_trial else None)
    changes: dict[str, list[np.ndarray]] = {}
    for _, srows in p.sessions.groupby("animal", sort=False):
        frames_of = _AnimalFrames({s: p.stores[s] for s in srows["session"]}, p.events,
                                  settings, exclude, _excluding(p.quality, settings))
        neutral = frames_of.neutral()
        means = frames_of.condition_means()
        if neutral.n == 0 or means is None:
            continue
        for c, s, n in zip(means.conditions, means.sums, means.counts, strict=True):
            if n:
                changes.setdefault(c, []).append(s / n - neutral.mean)
    if not changes:
        return None
    names = sorted(changes)
    return ExpressionAxis.from_axes(names, [np.mean(changes[c], axis=0) for c in names],
                                    np.zeros(len(changes[names[0]][0])))


def apply_model(p, saved: dict, meta: dict, settings: Settings, model_dir, events_path,
                sessions_path):
    """`score`: a saved model applied to new sessions; returns the frame tables, the trial
    scores and the note on what the similarities mean."""
    from mouseface.expressions.animal_model import AnimalModel, prototypes_for
    from mouseface.expressions.intensity import ExpressionAxis

    sessions, events, stores = p.sessions, p.events, p.stores
    mode = meta.get("mode", "pooled")
    shape = tuple(meta["feature_shape"])
    for s, st in stores.items():
        if st.feature_shape != shape:
            raise InputError(
                f"session {s}: HOG shape {st.feature_shape} differs from the model's "
                f"{shape}: use an ROI of the model's size "
                f"({meta.get('crop_shape', 'see model.json')})", sessions_path)
    keep = p.keep if p.keep is not None else slice(None)
    axes = load_array(model_dir, "axes")  # models fitted before the axis have none
    frames, scores = [], []
    for animal, srows in sessions.groupby("animal", sort=False):
        a_stores = {s: stores[s] for s in srows["session"]}
        names, protos = prototypes_for(saved, str(animal), model_dir)
        frames_of = _AnimalFrames(a_stores, events, settings, None,
                                  _excluding(p.quality, settings))
        frames_of.missing()  # warns of conditions whose every frame is flagged
        neutral = frames_of.neutral()
        if mode == "transfer" and neutral.n == 0:
            raise InputError(f"animal {animal}: no baseline frames (none before any onset, or "
                             "all flagged): a transfer model needs the animal's own neutral "
                             "face", events_path)
        own = AnimalModel.from_saved(mode, names, protos[:, keep], neutral,
                                     n_frames=settings.prototypes.n_frames)
        transform, names = own.transform, own.names
        similarities = (lambda k, x, f=transform: f(x), list(names))
        grade = None
        if axes is not None and neutral.n:  # graded from the animal's own neutral and spread
            grade = frames_of.scaled(ExpressionAxis.from_axes(
                meta["axis_names"], axes[:, keep], neutral.mean))
            # one read of the windows scores and grades the trials
            s, g = frames_of.window_scores(
                similarities, (lambda k, x, a=grade: _project(a, x), list(grade.classes_)))
            s = s if s is None else s.join(_grade_columns(g, grade.classes_))
        else:
            [s] = frames_of.window_scores(similarities)
        if s is not None:
            scores.append(s)
        for session, st in a_stores.items():
            frames.append(_frame_table(st, session, str(animal), transform,
                                       p.labels[session], names,
                                       p.frame_extras(session, st.n_frames), grade=grade))
    note = (TRANSFER_NOTE if mode == "transfer" else
            "prototypes from the saved model; neutral from each animal's own baseline "
            "where events were given")
    return frames, scores, note


def _first_trials(events: pd.DataFrame, sessions: pd.DataFrame) -> np.ndarray:
    """True for each animal's first trial of each condition (by session order, then onset)."""
    order = {s: i for i, s in enumerate(sessions["session"])}
    animal = dict(zip(sessions["session"], sessions["animal"], strict=True))
    e = events.assign(_animal=events["session"].map(animal),
                      _order=events["session"].map(order))
    e = e.sort_values(["_animal", "trial_type", "_order", "onset"])
    first = ~e.duplicated(["_animal", "trial_type"])
    return first.reindex(events.index).to_numpy()


def _warn_flagged(lost: dict[str, list[bool]], sessions) -> None:
    """Warn of the labels whose every frame is flagged (``lost``: per label, per session,
    whether any of its frames was kept)."""
    gone = sorted(n for n, kept in lost.items() if not any(kept))
    if gone:
        warnings.warn(f"sessions {', '.join(sorted(sessions))}: every {'/'.join(gone)} frame "
                      f"is quality-flagged (see the flag columns of frames.parquet): no "
                      f"prototype for {', '.join(gone)}; consider [quality] exclude_flagged = "
                      "false or [registration] shift_threshold", stacklevel=3)


def _check_same_shape(stores: dict[str, FeatureStore], what: str) -> None:
    shapes = {s: st.feature_shape for s, st in stores.items()}
    if len(set(shapes.values())) > 1:
        raise InputError(f"sessions of {what} have different HOG shapes {shapes}: give them ROIs "
                         "of the same size")


def _excluding(quality: dict[str, pd.DataFrame] | None, settings: Settings):
    """The quality tables whose flags keep frames out of prototypes (None: keep all)."""
    return quality if settings.quality.exclude_flagged else None


def _frame_table(store, session: str, animal: str, similarity, labels: np.ndarray | None,
                 names, extras: pd.DataFrame | None = None,
                 grade: Axes | ExpressionAxis | None = None) -> pd.DataFrame:
    """Rows of ``frames.parquet`` for one session; ``similarity(hog)`` gives the ``sim_``
    columns (one per name), ``grade`` the ``grade_`` columns (one per condition of its axis),
    ``extras`` the quality and drift columns."""
    sims, grades = [], []
    for _, x in store.iter_blocks():
        sims.append(similarity(x))
        if grade is not None:
            grades.append(_project(grade, x))
    sim = np.concatenate(sims) if sims else np.empty((0, len(names)))
    n = len(sim)
    columns = {"session": session, "animal": animal, "frame": np.arange(n),
               "time": store.time[:n], "window": labels[:n] if labels is not None else ""}
    columns |= {f"sim_{name}": sim[:, j].astype(np.float32) for j, name in enumerate(names)}
    if grade is not None:
        g = np.concatenate(grades) if grades else np.empty((0, len(grade.classes_)))
        columns |= {f"grade_{name}": g[:n, j].astype(np.float32)
                    for j, name in enumerate(grade.classes_)}
    df = pd.DataFrame(columns)  # at once: a column added at a time costs more than its numbers
    if extras is not None:
        df = pd.concat([df, extras.iloc[:n].reset_index(drop=True)], axis=1)
    return df


def _project(axis: Axes | ExpressionAxis, x: np.ndarray) -> np.ndarray:
    """``axis.transform(x)`` without scikit-learn's checks of its input, for the stores' HOG
    rows (called per block and trial window: the checks would cost more than the numbers)."""
    return (np.asarray(x, dtype=np.float64) - axis.neutral_) @ axis.axes_.T / axis.scale_


def _no_similarity(x: np.ndarray) -> np.ndarray:
    return np.empty((len(x), 0))


TRANSFER_NOTE = ("transfer model: sim_neutral is the correlation of each frame's HOG with the "
                 "animal's own neutral face (mean of its baseline frames); sim_<condition> the "
                 "correlation of the frame's difference from that face (standardised by its "
                 "baseline spread) with the condition's difference prototype, fitted on other "
                 "animals")
