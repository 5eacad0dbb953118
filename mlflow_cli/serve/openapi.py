"""The OpenAPI description behind `/docs`, generated from the served model's real schema.

A pydantic model of one record is built from schema.json (a field per column with its
type, categories as an enum, nullability, range) so `/docs` shows exactly what the model
takes, with an example record taken from the schema: the first category, the midpoint of
a numeric or date range. Request bodies are parsed by mlw itself (faster, and with the
per-field 422 contract), so the schemas are attached to the routes here, not by FastAPI.
"""

from __future__ import annotations

import keyword
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, create_model

from mlflow_cli.serve.examples import example_record
from mlflow_cli.serve.model import ServedModel
from mlflow_cli.serve.responses import v2_metadata


def _field_type(spec: dict[str, Any], unseen: str) -> Any:
    kind = spec.get("kind")
    if kind == "numeric":
        base: Any = float
    elif kind == "boolean":
        base = bool | Literal["yes", "no", "true", "false", "y", "n", "t", "f", "1", "0"]
    elif kind == "categorical" and unseen == "reject" and spec.get("categories"):
        base = Literal[tuple(spec["categories"])]  # type: ignore[misc]
    else:
        base = str
    return Optional[base] if spec.get("nullable", True) else base


def _description(name: str, spec: dict[str, Any]) -> str:
    kind = spec.get("kind", "?")
    parts = [f"{kind} column"]
    if kind == "numeric" and spec.get("min") is not None:
        parts.append(f"range seen in training {spec['min']} to {spec['max']}")
    if kind == "datetime":
        parts.append("ISO 8601 date or time")
    if kind == "boolean":
        parts.append("true/false or yes/no")
    parts.append("may be null" if spec.get("nullable", True) else "required, never null")
    return "; ".join(parts) + "."


def record_model(model: ServedModel, unseen: str) -> type[BaseModel]:
    """A pydantic model of one input record (field names are aliases: columns need not be identifiers)."""
    fields: dict[str, Any] = {}
    for index, (name, spec) in enumerate(model.schema["columns"].items()):
        fields[f"c{index}"] = (_field_type(spec, unseen), Field(..., alias=name, description=_description(name, spec)))
    for index, name in enumerate(model.schema.get("id_columns") or []):
        fields[f"id{index}"] = (Optional[str | int], Field(None, alias=name, description="id column (optional; "
                                                                                          "logged, not used)"))
    title = "".join(part.capitalize() for part in model.project.replace("-", "_").replace(".", "_").split("_"))
    title = (title if title.isidentifier() and not keyword.iskeyword(title) else "Model") + "Record"
    return create_model(title, __config__=ConfigDict(extra="forbid", populate_by_name=False,
                                                     json_schema_extra={"examples": [example_record(model.schema)]}),
                        **fields)


def openapi_schema(base: dict[str, Any], model: ServedModel, unseen: str) -> dict[str, Any]:
    """Add the model's request and response schemas (and examples) to FastAPI's document."""
    record = record_model(model, unseen)
    name = record.__name__
    record_schema = record.model_json_schema(ref_template="#/components/schemas/{model}", by_alias=True)
    components = base.setdefault("components", {}).setdefault("schemas", {})
    components.update(record_schema.pop("$defs", {}))
    components[name] = record_schema
    example = example_record(model.schema)
    columns = list(example)
    ref = {"$ref": f"#/components/schemas/{name}"}
    split = {"type": "object", "required": ["columns", "data"],
             "properties": {"columns": {"type": "array", "items": {"type": "string"}, "example": columns},
                            "data": {"type": "array", "items": {"type": "array", "items": {}}}}}
    classes = model.classes or []
    components["PredictResponse"] = {
        "type": "object", "required": ["model_version", "predictions"],
        "properties": {"model_version": {"type": "string"}, "alias": {"type": ["string", "null"]},
                       "request_id": {"type": "string"}, "predictions": {"type": "array", "items": {}},
                       **({"classes": {"type": "array", "items": {}, "example": classes},
                           "probabilities": {"type": "array", "items": {
                               "type": "object", "properties": {str(c): {"type": "number"} for c in classes}}}}
                          if model.has_proba else {})}}
    components["ValidationIssue"] = {"type": "object", "properties": {
        "row": {"type": ["integer", "null"], "description": "0-based row in the request (null: whole column)"},
        "field": {"type": ["string", "null"]}, "error": {"type": "string"}}}
    components["ValidationErrors"] = {"type": "object", "properties": {
        "detail": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationIssue"}}}}
    invalid = {"description": "Records that break the input schema: one issue per bad field and row.",
               "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ValidationErrors"}}}}
    paths = base.get("paths", {})
    _body(paths, "/predict", {"application/json": {
        "schema": {"oneOf": [{"type": "array", "items": ref}, ref, split]},
        "examples": {"records": {"summary": "A list of records", "value": [example]},
                     "split": {"summary": "Columns and rows", "value": {"columns": columns,
                                                                        "data": [list(example.values())]}}}}},
          {"200": {"description": "Predictions", "content": {"application/json": {
              "schema": {"$ref": "#/components/schemas/PredictResponse"}}}}, "422": invalid})
    _body(paths, "/invocations", {
        "application/json": {"schema": {"type": "object", "properties": {
            "dataframe_split": split, "dataframe_records": {"type": "array", "items": ref},
            "instances": {"type": "array", "items": ref}, "inputs": {}}},
            "examples": {"dataframe_split": {"value": {"dataframe_split": {"columns": columns,
                                                                          "data": [list(example.values())]}}},
                         "dataframe_records": {"value": {"dataframe_records": [example]}},
                         "inputs": {"value": {"inputs": {k: [v] for k, v in example.items()}}}}},
        "text/csv": {"schema": {"type": "string"},
                     "example": ",".join(columns) + "\n" + ",".join("" if v is None else str(v)
                                                                    for v in example.values())}},
          {"200": {"description": "MLflow-style predictions", "content": {"application/json": {"schema": {
              "type": "object", "properties": {"predictions": {"type": "array", "items": {}}}}}}}})
    metadata = v2_metadata(model)
    v2_example = {"id": "1", "inputs": [{"name": item["name"], "shape": [1], "datatype": item["datatype"],
                                         "data": [example[item["name"]]]} for item in metadata["inputs"]]}
    for path in ("/v2/models/{name}/infer", "/v2/models/{name}/versions/{version}/infer"):
        _body(paths, path, {"application/json": {"schema": {"type": "object", "required": ["inputs"], "properties": {
            "id": {"type": "string"}, "inputs": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string", "enum": columns}, "shape": {"type": "array", "items": {"type": "integer"}},
                "datatype": {"type": "string"}, "data": {"type": "array", "items": {}}}}},
            "outputs": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}}}},
            "example": v2_example}}, {})
    return base


def _body(paths: dict[str, Any], path: str, content: dict[str, Any], responses: dict[str, Any]) -> None:
    operation = paths.get(path, {}).get("post")
    if operation is None:
        return
    operation["requestBody"] = {"required": True, "content": content}
    operation.setdefault("responses", {}).update(responses)
