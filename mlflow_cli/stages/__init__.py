"""One folder per workflow stage: `plan_<stage>` (cheap: config, manifests, hashes; no pandas)
and `run_<stage>` (the work), plus `run.py`, the chain `mlw run` drives through that interface.

A stage reads the config and the store, never prints and never exits: it returns a
`core.stage.StageResult` or raises an `MlwError`. Stages never import one another.
"""
