"""The words mlw reads as booleans and as missing values: one vocabulary for prepare's type
inference and coercion (models/features.py) and the checks of records to score (validation/).
No imports."""

BOOLEAN_TOKENS = {"true": 1.0, "false": 0.0, "yes": 1.0, "no": 0.0, "y": 1.0, "n": 0.0, "t": 1.0, "f": 0.0}
NA_TOKENS = {"", "na", "n/a", "nan", "null", "none", "?", "-"}
