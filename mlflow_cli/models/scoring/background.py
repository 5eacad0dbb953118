"""Scoring a sample in a second process that loads the model while the caller reads the data.

`mlw monitor` scores a sample of the current rows for prediction drift. Loading the model means
importing its libraries (scikit-learn, which imports scipy.stats, and XGBoost: 1.2-1.5 s on a
2-core machine) and unpickling it, which on its own takes longer than reading and summarising
100,000 rows. `start_scorer` therefore starts a Python process (`python -m` this module: nothing
of the caller is re-imported) that imports those libraries at once, before the caller has even
found its model; `load` names the model (the process unpickles it while the caller reads its
data), `submit` hands over the sample as soon as the caller has one (a thread writes it, so the
caller goes on with its own work), and `result` waits for the scores. Frames, scores and
errors travel as pickles over the process's stdin and stdout (the worker's own prints go to
stderr).

In-process instead when there is one CPU, or when this process has already imported
scikit-learn (a test run, a caller that trained a model): then a second process would only add
its start.

An error the user can act on (an `MlwError`, e.g. a model file that fails its integrity check)
comes back and is raised in the caller as if it had been raised there; any other failure to
load or score comes back as `ScoringFailed`, which the caller reports without stopping.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

from mlflow_cli.core.errors import MlwError


@dataclass
class Sampled:
    """The scores of a sample: its predictions, the class probabilities (classifiers) and the classes."""

    predictions: list[Any]
    proba: Any                  # an (n, classes) float array, or None
    classes: list[str]


class ScoringFailed(Exception):
    """The model could not score the sample; the message says why (type and text of the error)."""


def start_scorer(*, background: bool | None = None) -> Any:
    """A scorer of one sample: `load(train, schema, task)`, `submit(frame)`, then `result() ->
    Sampled | None` (None: the model does not predict, e.g. a clusterer without `predict`);
    `close()` in any case.

    background: None decides (see the module docstring); True or False forces it."""
    if background is None:
        background = (os.cpu_count() or 1) > 1 and "sklearn" not in sys.modules
    return BackgroundScorer() if background else LocalScorer()


SCORE_ROWS = 16_384  # rows scored at a time: the model's working memory stays that of this many


def _score(model: Any, frame: Any) -> Sampled | None:
    import numpy as np

    if not model.can_predict:
        return None
    predictions: list[Any] = []
    probas: list[Any] = []
    try:
        for start in range(0, max(len(frame), 1), SCORE_ROWS):
            scores = model.score(frame.iloc[start:start + SCORE_ROWS])
            predictions.extend(scores.predictions)
            if scores.proba is not None:
                probas.append(np.asarray(scores.proba, dtype=float))
    except MlwError:
        raise
    except Exception as exc:
        raise ScoringFailed(f"{type(exc).__name__}: {exc}") from None
    classes = [str(c) for c in (model.classes if model.classes is not None else [])]
    return Sampled(predictions, np.concatenate(probas) if probas else None, classes)


class LocalScorer:
    """Loads in this process when a result is first asked for, and keeps the model for the next
    sample (a --window run scores one per window)."""

    def __init__(self) -> None:
        self._model: tuple[Any, dict[str, Any], str | None] | None = None
        self._loaded: Any = None
        self._frame: Any = None

    def load(self, train: Any, schema: dict[str, Any], task: str | None) -> None:
        if self._model is None or self._model[0].ref != train.ref:
            self._model, self._loaded = (train, schema, task), None

    def submit(self, frame: Any) -> None:
        self._frame = frame

    def result(self) -> Sampled | None:
        from mlflow_cli.models.scoring.model import ScoringModel

        if self._loaded is None:
            self._loaded = ScoringModel(*self._model)
        frame, self._frame = self._frame, None
        return _score(self._loaded, frame)

    def close(self) -> None:
        self._frame = None


class BackgroundScorer:
    """A child process that imports the model's libraries at once (see the module docstring)."""

    def __init__(self) -> None:
        import subprocess

        self._process = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE)
        self._writer: Any = None
        self._answered = False

    def load(self, train: Any, schema: dict[str, Any], task: str | None) -> None:
        self._send((train, schema, task))

    def submit(self, frame: Any) -> None:
        import threading

        self._writer = threading.Thread(target=self._send, args=(frame, True), name="mlw-scorer-input", daemon=True)
        self._writer.start()

    def _send(self, value: Any, last: bool = False) -> None:
        import pickle

        try:
            pickle.dump(value, self._process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._process.stdin.flush()
            if last:
                self._process.stdin.close()
        except (BrokenPipeError, OSError, ValueError):  # the process ended early: result() says how
            pass

    def result(self) -> Sampled | None:
        import pickle

        try:
            status, value = pickle.load(self._process.stdout)
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            self.close()
            raise ScoringFailed(f"the scoring process ended early ({type(exc).__name__}; exit code "
                                f"{self._process.returncode})") from None
        self._answered = True
        self.close()
        if status == "error":
            raise value
        return value

    def close(self) -> None:
        """Stop the process (done, or no longer needed: the caller failed or found its result cached)."""
        if self._writer is not None:
            self._writer.join(timeout=5)
        for stream in (self._process.stdin, self._process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        if not self._answered:  # still importing or scoring for nobody
            self._process.kill()
        try:
            self._process.wait(timeout=5)
        except Exception:
            self._process.kill()
            self._process.wait()


def _serve() -> None:
    """The scoring process: import the libraries, read what to load and load it, then score the one
    frame it is sent."""
    import pickle

    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a library's print must not corrupt the replies
    requests = sys.stdin.buffer
    failure: BaseException | None = None
    try:
        import importlib

        importlib.import_module("mlflow_cli.models.scoring.pipeline")  # pandas, scikit-learn: before the model is named
        from mlflow_cli.models.scoring.model import ScoringModel
    except Exception as exc:
        failure = ScoringFailed(f"{type(exc).__name__}: {exc}")
    try:
        train, schema, task = pickle.load(requests)
    except EOFError:  # the caller no longer needs scores
        return
    try:
        if failure is not None:
            raise failure
        model: Any = ScoringModel(train, schema, task)
        model.can_predict  # noqa: B018 (unpickles the model now, while the caller reads)
    except (MlwError, ScoringFailed) as exc:
        model, failure = None, exc
    except Exception as exc:
        model, failure = None, ScoringFailed(f"{type(exc).__name__}: {exc}")
    try:
        frame = pickle.load(requests)
    except EOFError:  # the caller no longer needs scores
        return
    try:
        if failure is not None:
            raise failure
        reply: tuple[str, Any] = ("scores", _score(model, frame))
    except (MlwError, ScoringFailed) as exc:
        reply = ("error", exc)
    pickle.dump(reply, replies, protocol=pickle.HIGHEST_PROTOCOL)
    replies.close()
    sys.stderr.flush()
    os._exit(0)  # done: tearing down scikit-learn's modules would only keep the caller waiting


if __name__ == "__main__":
    from mlflow_cli.models.scoring.background import _serve as serve  # pickles name this module, not __main__

    serve()
