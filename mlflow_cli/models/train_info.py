"""What a train version records about its model (its manifest's `info`), as one typed definition.

`mlw train` writes it; evaluate, predict, serve, `mlw runs` and package read it. Reading through
`TrainInfo.of(manifest)` rather than by string key means a renamed field fails loudly (an
AttributeError in tests) instead of reading as None. Fields an older manifest lacks read as their
defaults, so versions written by earlier mlw releases keep working. Plain data: no imports of
pandas or scikit-learn.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

MODEL_FILE = "model.joblib"  # the fitted Pipeline a train version holds
REFERENCE_FILE = "reference.json"  # its reference for `mlw monitor` (models/reference.py)


@dataclass(frozen=True)
class TrainInfo:
    task: str | None = None
    model: str | None = None              # the catalogue name (or class path) that won
    estimator: str | None = None          # the fitted estimator's class path
    params: dict[str, Any] = field(default_factory=dict)
    metric: str | None = None             # what CV and the search scored
    target: str | None = None
    classes: list[Any] | None = None
    data: str | None = None               # the prepare version's ref, "prepare/<version>"
    train_rows: int | None = None
    valid_rows: int | None = None
    features_in: int | None = None
    features_out: int | None = None
    feature_names: list[str] = field(default_factory=list)  # the first ones; all of them in features.json
    cv: dict[str, dict[str, float]] | None = None
    leaderboard: list[dict[str, Any]] | None = None
    search: dict[str, Any] | None = None
    best_iteration: int | None = None
    fit_seconds: float | None = None
    device: str | None = None
    importance_kind: str | None = None
    scoring_bundle: bool = False
    top_features: dict[str, float] = field(default_factory=dict)
    rating_model: dict[str, Any] | None = None   # recommendation: the model predicting ratings, beside the ranker
    positive_class: Any = None            # binary classification: the class precision, recall and f1 are of
    positive_source: str | None = None    # "config" (data.positive_class) or "minority" (of the training rows)

    @property
    def positive(self) -> Any:
        """The positive class metrics use: as recorded, else (older versions) the second sorted class."""
        if self.positive_class is not None:
            return self.positive_class
        return self.classes[1] if self.classes and len(self.classes) == 2 else None

    @classmethod
    def of(cls, manifest: dict[str, Any]) -> TrainInfo:
        """The info of a train manifest; keys this release does not know are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (manifest.get("info") or {}).items() if k in known})

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("rating_model", "positive_class", "positive_source"):
            if out[key] is None:  # only where they apply: other manifests stay as they were
                del out[key]
        return out
