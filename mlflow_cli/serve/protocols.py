"""The names this module held before it was split, for the code and tests that import them here.

Requests are read in serve/requests.py, checked and scored in serve/scoring.py, and answered in
serve/responses.py; new code imports from those. These are the same objects, so a test that
monkeypatches a function's collaborator must patch the module that defines the function (e.g.
`scoring.check_frame`, `requests.table_matrix`): patching a name here changes nothing.
"""

from __future__ import annotations

from mlflow_cli.serve.requests import (CSV_NULLS, MLFLOW_FORMATS, V2_DATATYPES, V2_NUMERIC, RequestError, Rows,
                                       _lenient, _predict_rows, frame_from_columns, frame_from_records,
                                       frame_from_split, frame_records, parse_csv, parse_invocations, parse_json,
                                       parse_predict, parse_v2, short)
from mlflow_cli.serve.responses import (dumps, invocations_response, json_default, jsonable, predict_response,
                                        probability_records, v2_datatype, v2_input_datatype, v2_metadata,
                                        v2_response)
from mlflow_cli.serve.scoring import InputError, check_frame, score_rows, summarize

__all__ = ["CSV_NULLS", "MLFLOW_FORMATS", "V2_DATATYPES", "V2_NUMERIC", "InputError", "RequestError", "Rows",
           "check_frame", "dumps", "frame_from_columns", "frame_from_records", "frame_from_split", "frame_records",
           "invocations_response", "json_default", "jsonable", "parse_csv", "parse_invocations", "parse_json",
           "parse_predict", "parse_v2", "predict_response", "probability_records", "score_rows", "short",
           "summarize", "v2_datatype", "v2_input_datatype", "v2_metadata", "v2_response",
           "_lenient", "_predict_rows"]  # the private two: tests call them
