"""The clustering task: no target; a cluster id per row, judged by internal metrics (and by
ari/nmi when a label column is at hand). numpy, scipy and scikit-learn are imported inside functions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlflow_cli.models.tasks.task import Task
from mlflow_cli.models.values import as_labels, finite

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

METRICS = ("silhouette", "davies_bouldin", "calinski_harabasz", "ari", "nmi")
# Silhouette is O(n^2) in rows; above this it is computed on a seeded sample of rows.
SILHOUETTE_SAMPLE = 10_000
SILHOUETTE_SEED = 0
# davies_bouldin and calinski_harabasz need a dense X. A sparse X is densified only up to
# this many cells (80 MB as float64); above it those two metrics are left out rather than
# risking memory on a wide text matrix. silhouette works on sparse X directly.
DENSE_CELL_LIMIT = 10_000_000


def clustering_metrics(X: Any, labels: ArrayLike, y_true: ArrayLike | None = None) -> dict[str, float]:
    """Internal metrics from X and the cluster labels; ari/nmi too when y_true is given.

    - Internal metrics need 2 <= clusters <= rows - 1 and are left out otherwise. Every
      label counts as a cluster, DBSCAN's noise (-1) included, as in scikit-learn.
    - silhouette uses at most SILHOUETTE_SAMPLE rows (seeded), and works on sparse X.
    - davies_bouldin and calinski_harabasz need dense X: a sparse X is densified when it
      has at most DENSE_CELL_LIMIT cells, otherwise they are left out.
    """
    import numpy as np
    from scipy import sparse
    from sklearn import metrics as skm

    labels = as_labels(labels)
    results: dict[str, float | None] = {}
    n_rows, n_clusters = len(labels), len(np.unique(labels))
    if 2 <= n_clusters <= n_rows - 1:
        if sparse.issparse(X):
            X = sparse.csr_matrix(X)     # row-indexable, which sampling needs
            dense = X.toarray() if X.shape[0] * X.shape[1] <= DENSE_CELL_LIMIT else None
        else:
            X = dense = np.asarray(X)
        sample = SILHOUETTE_SAMPLE if n_rows > SILHOUETTE_SAMPLE else None
        try:
            results["silhouette"] = skm.silhouette_score(
                X, labels, sample_size=sample, random_state=SILHOUETTE_SEED)
        except ValueError:
            pass                         # the sample drew a single cluster
        if dense is not None:
            results["davies_bouldin"] = skm.davies_bouldin_score(dense, labels)
            results["calinski_harabasz"] = skm.calinski_harabasz_score(dense, labels)
    if y_true is not None:
        y_true = as_labels(y_true)
        results["ari"] = skm.adjusted_rand_score(y_true, labels)
        results["nmi"] = skm.normalized_mutual_info_score(y_true, labels)
    return finite(results)


def _score(y_true: Any, y_pred: Any, proba: Any = None, classes: Any = None, X: Any = None,
           positive: Any = None) -> dict[str, float]:
    if X is None:
        raise ValueError("clustering metrics need X")
    return clustering_metrics(X, y_pred, y_true=y_true)


TASK = Task(name="clustering", metrics=METRICS, lower_is_better=frozenset({"davies_bouldin"}), supervised=False,
            labels=False, default_split="random", prediction="cluster", plots=("cluster_sizes",),
            auto_candidates=("kmeans",), cv_report=(),
            selection_metric=lambda n_classes: "silhouette", score=_score)
