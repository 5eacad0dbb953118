"""Scoring a trained model, one mechanism: `model.py`'s ScoringModel, which evaluate, predict and
serve all call, picks among the fitted scikit-learn Pipeline (`pipeline.py`, the reference), the
preprocessing compiled to numpy (`compiled.py`, small requests) and the XGBoost scoring bundle
that needs neither pandas nor scikit-learn (`bundle.py`); each faster path matches the Pipeline
bit for bit."""
