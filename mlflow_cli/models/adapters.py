"""Small scikit-learn adapters that become part of saved models (so they must stay
importable under these names): label encoding for XGBoost, densifying sparse features."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.preprocessing import LabelEncoder


class LabelEncodedClassifier(ClassifierMixin, BaseEstimator):
    """Lets a classifier that wants labels 0..k-1 (XGBoost), or predicts them as a column (CatBoost),
    take and return the data's labels as a vector."""

    def __init__(self, estimator: Any = None) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any, **fit_params: Any) -> LabelEncodedClassifier:
        self.encoder_ = LabelEncoder().fit(np.asarray(y))
        self.classes_ = self.encoder_.classes_
        if "eval_set" in fit_params:
            fit_params["eval_set"] = [(Xe, self.encoder_.transform(np.asarray(ye))) for Xe, ye in fit_params["eval_set"]]
        self.estimator.fit(X, self.encoder_.transform(np.asarray(y)), **fit_params)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.encoder_.inverse_transform(np.asarray(self.estimator.predict(X)).astype(int).ravel())

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.estimator.predict_proba(X)

    @property
    def feature_importances_(self) -> np.ndarray:
        return self.estimator.feature_importances_

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class Densify(TransformerMixin, BaseEstimator):
    """Sparse features to a dense array, for estimators that reject sparse input."""

    def fit(self, X: Any, y: Any = None) -> Densify:
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        return X.toarray() if hasattr(X, "toarray") else np.asarray(X)

    def get_feature_names_out(self, input_features: Any = None) -> Any:
        return input_features
