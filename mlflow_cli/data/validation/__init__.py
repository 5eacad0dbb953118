"""Checks of records against the schema recorded at prepare time: `fast.py` needs neither pandas nor
scikit-learn (the request path of `mlw serve` and the scoring bundle), `frame.py` checks a pandas
frame and names every bad field."""
