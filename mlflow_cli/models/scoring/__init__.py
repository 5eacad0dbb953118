"""Scoring a trained model: the scikit-learn Pipeline (`pipeline.py`) and the XGBoost scoring bundle
that needs neither pandas nor scikit-learn (`bundle.py`)."""
