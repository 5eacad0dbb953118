"""`model: auto`: every candidate's defaults on the same cross-validation folds, then a tuned search
of the most promising families within `train.time_budget_s` (Optuna's TPE sampler, one study per
family, the time shared among them, the leader's share double), then a weighted soft-voting
ensemble of the best configurations, kept when it beats the single best on the same folds.

Each configuration is scored from its out-of-fold predictions (folds.py), so an ensemble's CV
score is computed from its members' predictions without refitting: soft voting averages
probabilities (or values), fold by fold, exactly as the fitted VotingClassifier does. Members are
chosen by Caruana's greedy ensemble selection with replacement (as AutoGluon does) among each
family's three best configurations: the weights are how often each was picked.

Heavy (numpy, scikit-learn, Optuna): training.py imports it only for `model: auto`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlflow_cli.core.errors import ConfigError, DataError, MlwError
from mlflow_cli.models.catalog import installed, needs_dense
from mlflow_cli.models.metrics import scorer_sign
from mlflow_cli.models.tuning import default_budget, suggest, trees_of, tunable
from mlflow_cli.stages.train.folds import Folds

if TYPE_CHECKING:
    from mlflow_cli.stages.train.training import Trainer

BUDGET_ENV = "MLW_TIME_BUDGET_S"  # the default budget when the config gives none (CI: 0, the defaults only)
# (stage.py keys the cache on it under the same name)
TUNED_FAMILIES = 3                # the best families by their defaults get a tuned search
LEADER_SHARE = 2                  # the leading family's share of the search's time, against 1 for the others
ENSEMBLE_STEPS = 20               # greedy ensemble selection: picks, with replacement
POOL_PER_FAMILY = 3               # ... among each family's best configurations
ENSEMBLE = "ensemble"


@dataclass
class Evaluated:
    """One configuration of one model, scored on the folds."""

    model: str
    params: dict[str, Any]       # the tuned parameters ({} for the defaults)
    estimator: Any               # unfitted
    predictions: list[Any]       # each fold's out-of-fold outputs
    scores: np.ndarray           # the selection metric on each fold (NaN where undefined)
    cv: dict[str, dict[str, float]]
    seconds: float
    fit_seconds: float
    trial: int = 0               # 0: the defaults

    @property
    def score(self) -> float:
        return float(np.mean(self.scores)) if np.all(np.isfinite(self.scores)) else float("nan")


@dataclass
class Ensemble:
    """Greedy ensemble selection's result: members by their pool names, weights summing to 1."""

    members: dict[str, Evaluated]
    weights: dict[str, float]
    scores: np.ndarray
    cv: dict[str, dict[str, float]]


@dataclass
class Choice:
    name: str                    # a catalogue name, or "ensemble"
    estimator: Any
    leaderboard: list[dict[str, Any]]
    cv: dict[str, dict[str, float]] | None
    members: dict[str, dict[str, Any]] = field(default_factory=dict)  # the ensemble's: name -> weight, params


class AutoSearch:
    """One `model: auto` run for a Trainer (its data, folds, metric and progress)."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        cfg = trainer.cfg
        self.metric = trainer.metric
        self.sign = scorer_sign(trainer.metric)
        self.candidates = cfg.candidates or [n for n in trainer.kind.auto_candidates if installed(n)]
        self.budget = budget_of(cfg.time_budget_s, len(trainer.train))
        self.tune = self.budget > 0 and cfg.search is None  # train.search tunes the winner instead
        self.folds = Folds.for_auto(trainer, quick=self.budget == 0)

    # ----------------------------------------------------------------- the run

    def run(self) -> Choice:
        started = time.perf_counter()
        deadline = started + self.budget
        total = self.budget if self.tune else len(self.candidates)
        label = f"auto: {len(self.candidates)} candidates, {self.folds.description}"
        with self.trainer.progress_bar(label, total) as bar:
            self.bar = bar
            defaults, skipped = self._defaults(started)
            if not defaults:
                raise DataError("model: auto could not evaluate any candidate.",
                                hint="Name a model in train.model, or raise train.time_budget_s.")
            tuned = self._tuned(defaults, deadline) if self.tune else []
        best = self._best_per_family(defaults + tuned)
        ensemble = self._ensemble(self._pool(defaults + tuned)) if self.trainer.kind.supervised else None
        return self._choice(best, defaults + tuned, ensemble, skipped)

    def _defaults(self, started: float) -> tuple[list[Evaluated], list[dict[str, Any]]]:
        done: list[Evaluated] = []
        skipped: list[dict[str, Any]] = []
        for name in self.candidates:
            if self.budget and done and time.perf_counter() - started > self.budget:
                skipped.append(_skipped(name, f"time budget of {self.budget:g} s used up"))
                continue
            estimator = self.trainer._estimator(name, {})
            if needs_dense(estimator) and self.trainer._too_big_to_densify():
                skipped.append(_skipped(name, "needs dense features; these are too large"))
                continue
            self._describe(f"auto: {name} (defaults)", started + self.budget)
            done.append(self._evaluate(name, estimator, {}, 0))
            self._advance(done[-1].seconds if self.tune else 1)
        return done, skipped

    def _tuned(self, defaults: list[Evaluated], deadline: float) -> list[Evaluated]:
        """Trials of the best families until the budget is spent, shared by time: the next trial
        goes to the family that has used the least of its share, and the one leading so far has
        a double share (a cheap family gets more trials in the same seconds). A trial whose cost
        (its trees times the family's measured seconds per tree) would not fit in the time left
        is not run; a family drops out after three such in a row."""
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        ranked = sorted((e for e in defaults if tunable(e.model) and np.isfinite(e.score)),
                        key=lambda e: self.sign * e.score, reverse=True)
        families = [e.model for e in ranked][:TUNED_FAMILIES]
        studies = {name: optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(
            seed=self.trainer.cfg.seed + i, n_startup_trials=5)) for i, name in enumerate(families)}
        per_tree = {e.model: [e.seconds / trees_of({}, e.estimator)] for e in defaults}
        best = {e.model: self.sign * e.score for e in defaults}
        spent = dict.fromkeys(families, 0.0)
        too_long = dict.fromkeys(families, 0)
        tuned: list[Evaluated] = []
        active = list(families)
        while active:
            name = next_family(active, spent, best)
            study = studies[name]
            trial = study.ask()
            params = suggest(trial, name, self.folds.train_rows)
            estimator = self.trainer._estimator(name, params)
            if float(np.median(per_tree[name])) * trees_of(params, estimator) > deadline - time.perf_counter():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                too_long[name] += 1
                if too_long[name] >= 3 or deadline - time.perf_counter() <= 0:
                    active.remove(name)
                continue
            too_long[name] = 0
            self._describe(f"auto: tuning {name} (trial {trial.number + 1})", deadline)
            t0 = time.perf_counter()
            try:
                evaluated = self._evaluate(name, estimator, params, trial.number + 1)
            except MlwError:  # a point of the space the data cannot fit: the search goes on
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                spent[name] += time.perf_counter() - t0
                continue
            spent[name] += evaluated.seconds
            per_tree[name].append(evaluated.seconds / trees_of(params, estimator))
            self._advance(evaluated.seconds)
            if np.isfinite(evaluated.score):
                study.tell(trial, self.sign * evaluated.score)
                tuned.append(evaluated)
                best[name] = max(best[name], self.sign * evaluated.score)
            else:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return tuned

    def _evaluate(self, name: str, estimator: Any, params: dict[str, Any], trial: int) -> Evaluated:
        t0 = time.perf_counter()
        run = self.folds.run(estimator)
        scores = self.folds.scores(run.predictions, self.metric)
        return Evaluated(name, params, estimator, run.predictions, scores, self.folds.cv(run.predictions),
                         round(time.perf_counter() - t0, 3), run.fit_seconds, trial)

    # ----------------------------------------------------------------- choosing

    def _best_per_family(self, evaluated: list[Evaluated]) -> list[Evaluated]:
        """The best configuration of each model, best first (NaN scores last)."""
        best: dict[str, Evaluated] = {}
        for e in evaluated:
            held = best.get(e.model)
            if held is None or _better(self.sign * e.score, self.sign * held.score):
                best[e.model] = e
        return sorted(best.values(), key=lambda e: _key(self.sign * e.score), reverse=True)

    def _pool(self, evaluated: list[Evaluated]) -> dict[str, Evaluated]:
        """The ensemble's candidates: each family's POOL_PER_FAMILY best configurations, named
        'lightgbm', 'lightgbm_2', ... in the order of their scores (best first overall)."""
        kept: dict[str, list[Evaluated]] = {}
        for e in sorted(evaluated, key=lambda e: _key(self.sign * e.score), reverse=True):
            if np.isfinite(e.score) and all(np.ndim(p) == self.folds.prediction_ndim for p in e.predictions) \
                    and len(kept.setdefault(e.model, [])) < POOL_PER_FAMILY:
                kept[e.model].append(e)
        named = [(e.model if i == 0 else f"{e.model}_{i + 1}", e) for family in kept.values()
                 for i, e in enumerate(family)]
        return dict(sorted(named, key=lambda item: self.sign * item[1].score, reverse=True))

    def _ensemble(self, candidates: dict[str, Evaluated]) -> Ensemble | None:
        """Greedy ensemble selection over the pool: the members with their weights, fold scores
        and CV, or None when no mix beats the single best."""
        if self.trainer._balanced():  # members balanced two ways (class_weight, sample weights) would not mix
            return None
        names, pool = list(candidates), list(candidates.values())
        if len(pool) < 2:
            return None
        counts = np.zeros(len(pool))
        sums = [np.zeros_like(p, dtype=float) for p in pool[0].predictions]
        chosen_scores, chosen_counts = None, None
        for step in range(1, ENSEMBLE_STEPS + 1):
            trials = []
            for member in pool:
                mixed = [(s + p) / step for s, p in zip(sums, member.predictions)]
                trials.append(self.folds.scores(mixed, self.metric))
            means = [self.sign * float(np.mean(t)) if np.all(np.isfinite(t)) else -np.inf for t in trials]
            pick = int(np.argmax(means))
            counts[pick] += 1
            sums = [s + p for s, p in zip(sums, pool[pick].predictions)]
            if chosen_scores is None or means[pick] > self.sign * float(np.mean(chosen_scores)):
                chosen_scores, chosen_counts = trials[pick], counts.copy()
        assert chosen_scores is not None and chosen_counts is not None
        if np.count_nonzero(chosen_counts) < 2 or \
                not self.sign * float(np.mean(chosen_scores)) > self.sign * pool[0].score + 1e-9:
            return None
        weights = {names[i]: float(c / chosen_counts.sum()) for i, c in enumerate(chosen_counts) if c}
        mixed = [sum(w * candidates[name].predictions[f] for name, w in weights.items())
                 for f in range(len(pool[0].predictions))]
        return Ensemble({name: candidates[name] for name in weights}, weights, chosen_scores, self.folds.cv(mixed))

    def _choice(self, best: list[Evaluated], evaluated: list[Evaluated], ensemble: Ensemble | None,
                skipped: list[dict[str, Any]]) -> Choice:
        trials = {e.model: sum(1 for x in evaluated if x.model == e.model) for e in best}
        spent = {e.model: round(sum(x.seconds for x in evaluated if x.model == e.model), 3) for e in best}
        rows = [{"model": e.model, "score": e.score if np.isfinite(e.score) else None, "cv": e.cv,
                 "params": e.params, "trials": trials[e.model], "seconds": spent[e.model],
                 "fit_seconds": round(e.fit_seconds, 3)} for e in best]
        members: dict[str, dict[str, Any]] = {}
        if ensemble is not None:
            members = {name: {"weight": round(w, 4), "params": ensemble.members[name].params}
                       for name, w in ensemble.weights.items()}
            rows.append({"model": ENSEMBLE, "score": float(np.mean(ensemble.scores)), "cv": ensemble.cv,
                         "members": {name: m["weight"] for name, m in members.items()}, "seconds": 0.0,
                         "fit_seconds": round(sum(e.fit_seconds for e in ensemble.members.values()), 3)})
        scored = sorted((r for r in rows if r["score"] is not None), key=lambda r: self.sign * r["score"],
                        reverse=True)
        for rank, row in enumerate(scored, 1):
            row["rank"] = rank
        leaderboard = scored + [r for r in rows if r["score"] is None] + skipped
        if not scored:
            raise DataError(f"model: auto could not score any candidate by {self.metric}.",
                            hint="Choose another train.metric, or name a model in train.model.")
        winner = scored[0]
        if ensemble is not None and winner["model"] == ENSEMBLE:
            estimator = self._voting({name: (ensemble.members[name].estimator, m["weight"])
                                      for name, m in members.items()})
            return Choice(ENSEMBLE, estimator, leaderboard, winner["cv"], members)
        by_name = {e.model: e for e in best}
        return Choice(winner["model"], by_name[winner["model"]].estimator, leaderboard, winner["cv"])

    def _voting(self, members: dict[str, tuple[Any, float]]) -> Any:
        """The ensemble as scikit-learn's own soft-voting estimator; members that need dense input
        get their own densifying step."""
        from sklearn.ensemble import VotingClassifier, VotingRegressor
        from sklearn.pipeline import Pipeline

        from mlflow_cli.models.adapters import Densify

        steps = [(name, Pipeline([("densify", Densify()), ("model", est)]) if needs_dense(est) else est)
                 for name, (est, _) in members.items()]
        weights = [w for _, w in members.values()]
        if self.trainer.kind.labels:
            return VotingClassifier(steps, voting="soft", weights=weights)
        return VotingRegressor(steps, weights=weights)

    # ----------------------------------------------------------------- progress

    def _describe(self, text: str, deadline: float) -> None:
        describe = getattr(self.bar, "describe", None)
        if describe is not None:
            left = max(0.0, deadline - time.perf_counter())
            describe(f"{text}, {left:.0f} s left" if self.tune else text)

    def _advance(self, amount: float) -> None:
        if self.bar is not None:
            self.bar.advance(amount)


def next_family(active: list[str], spent: dict[str, float], best: dict[str, float]) -> str:
    """The family whose turn it is: the one that has used the least of its share of the search's
    time, the leader (the highest `best`) having LEADER_SHARE shares and the others one."""
    leader = max(active, key=lambda n: best[n])
    return min(active, key=lambda n: spent[n] / (LEADER_SHARE if n == leader else 1))


def budget_of(configured: float | None, rows: int) -> float:
    """The search's budget in seconds: train.time_budget_s, else $MLW_TIME_BUDGET_S, else by the
    rows (models/tuning.py). 0: the candidates' defaults only."""
    if configured is not None:
        return float(configured)
    value = os.environ.get(BUDGET_ENV)
    if value not in (None, ""):
        try:
            seconds = float(value)
        except ValueError:
            seconds = -1.0
        if not seconds >= 0:
            raise ConfigError(f"${BUDGET_ENV} is '{value}', which is not a number of seconds.",
                              hint="Set it to 0 (the defaults only) or a budget such as 60, or unset it.")
        return seconds
    return default_budget(rows)


def _skipped(name: str, why: str) -> dict[str, Any]:
    return {"model": name, "score": None, "cv": None, "seconds": 0.0, "skipped": why}


def _key(value: float) -> float:
    return value if np.isfinite(value) else -np.inf


def _better(value: float, than: float) -> bool:
    return _key(value) > _key(than)
