"""Project-level commands that are not stages: `mlw init` (scaffold), `mlw runs` (experiment
tracking over train versions) and `mlw artifacts` (browsing and cleaning the store)."""
