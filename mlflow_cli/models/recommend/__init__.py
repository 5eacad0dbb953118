"""Recommendation models (issue 13, being built): the baselines every recommendation report shows
beside the model, in `baselines.py`. Not yet reachable from the command line."""
