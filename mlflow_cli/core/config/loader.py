"""Loading mlw.yaml: line numbers for every key, `--set` overrides, `${ENV}` expansion (secrets
stay templates in manifests and `config show`), relative paths, and validation errors that name
the file, the key path, the line and a did-you-mean."""

from __future__ import annotations

import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from mlflow_cli.core.errors import ConfigError, did_you_mean
from mlflow_cli.core.config.sections import DEFAULT_CONFIG, MlwConfig

KeyPath = tuple[Any, ...]
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass
class Config:
    """A validated config plus what is needed to explain it: file, lines, env templates."""

    model: MlwConfig
    path: Path
    lines: dict[KeyPath, int] = field(default_factory=dict)
    templates: dict[KeyPath, str] = field(default_factory=dict)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def artifacts_dir(self) -> Path:
        return self.resolve(self.model.artifacts)

    def resolve(self, path: str) -> Path:
        """Resolve a path written in the config against the config file's folder."""
        p = Path(os.path.expanduser(path))
        return p if p.is_absolute() else Path(os.path.normpath(self.base_dir / p))

    def dump(self) -> dict[str, Any]:
        """The full config with defaults, ${VAR} templates in place of secrets."""
        data = self.model.model_dump(mode="json")
        for key_path, template in self.templates.items():
            _set_path(data, key_path, template)
        return data

    def section(self, *names: str) -> dict[str, Any]:
        """The named top-level sections (safe to store in a manifest and to hash)."""
        data = self.dump()
        return {name: data[name] for name in names}

    def where(self, *key_path: Any) -> str:
        """'`a.b` (mlw.yaml:7)' for messages; '(from --set)' for overridden values."""
        return _where(self.path, self.lines, tuple(key_path))

    def check_data_columns(self, columns: Any) -> None:
        """DataError unless the data holds the target, time and id columns the config names."""
        from mlflow_cli.core.errors import missing_column_error

        data, present = self.model.data, list(columns)
        for key, column in [("target", data.target), ("time_column", data.time_column),
                            *(("id_columns", c) for c in data.id_columns)]:
            if column and column not in present:
                raise missing_column_error(self.where("data", key), column, present)


def load_config(path: str | Path = DEFAULT_CONFIG, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read, override, expand and validate a config file, or raise ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"Config file '{path}' not found.",
            hint="Pass the file with -c PATH, or create a project with `mlw init NAME`.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: the file is not UTF-8 text (byte {exc.start} cannot be decoded).",
                          hint="Save the config as UTF-8.") from None
    except OSError as exc:
        raise ConfigError(f"Config file '{path}' cannot be read ({exc.strerror}).",
                          hint="Check the file's permissions.") from None
    loader = yaml.SafeLoader(text)
    try:  # parse once: the node tree gives line numbers, the same tree gives the values
        node = loader.get_single_node()
        raw = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: the file is not valid YAML ({problem}).",
                          hint="Check indentation and quoting on that line.") from exc
    finally:
        loader.dispose()
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the file must be a YAML mapping of sections (project:, data:, ...). "
                          f"Got {type(raw).__name__ if raw is not None else 'an empty file'}.",
                          hint="Start from `mlw init NAME` or an example in configs/.")
    lines: dict[KeyPath, int] = {}
    _collect_lines(node, (), lines, path.name)
    for override in overrides:
        _apply_override(raw, override, lines)
    templates: dict[KeyPath, str] = {}
    raw = _expand_env(raw, (), templates, lambda kp: _where(path, lines, kp))
    try:
        model = MlwConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation(exc, path, lines, templates),
                          hint="See `mlw config schema` for every key, or `mlw config show` for defaults.") from exc
    config = Config(model=model, path=path.resolve(), lines=lines, templates=templates)
    _resolve_paths(config)
    return config


def _where(path: Path, lines: dict[KeyPath, int], key_path: KeyPath) -> str:
    dotted = ".".join(str(k) for k in key_path) or "(top level)"
    line = lines.get(tuple(key_path))
    if line == -1:
        return f"`{dotted}` (from --set)"
    return f"`{dotted}` ({path.name}:{line})" if line else f"`{dotted}` ({path.name})"


def _collect_lines(node: yaml.Node | None, prefix: KeyPath, lines: dict[KeyPath, int], name: str) -> None:
    """Record the line of every key; a repeated key is an error (YAML would silently keep the last)."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key_path = prefix + (key_node.value,)
            line = key_node.start_mark.line + 1
            if key_node.value in seen and key_node.tag != "tag:yaml.org,2002:merge":
                where = f"in `{'.'.join(map(str, prefix))}`" if prefix else "at the top level"
                raise ConfigError(f"{name}:{line}: key '{key_node.value}' appears twice {where} "
                                  f"(first at line {seen[key_node.value]}).",
                                  hint="Remove one of them; YAML would silently keep only the last.")
            seen[key_node.value] = line
            lines[key_path] = line
            _collect_lines(value_node, key_path, lines, name)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[prefix + (index,)] = item.start_mark.line + 1
            _collect_lines(item, prefix + (index,), lines, name)


def _apply_override(raw: dict[str, Any], override: str, lines: dict[KeyPath, int]) -> None:
    key, sep, value_text = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set '{override}' must look like key.path=value.",
                          hint="For example: --set prepare.split.test_size=0.25")
    try:
        value = yaml.safe_load(value_text) if value_text.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set '{override}': the value is not valid YAML.",
                          hint="Quote strings that contain ':' or '#'.") from exc
    parts = key.strip().split(".")
    target = raw
    for i, part in enumerate(parts[:-1]):
        child = target.get(part)
        if child is None:
            child = target[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"--set '{override}': `{'.'.join(parts[:i + 1])}` is not a section, so it has no "
                              f"key '{parts[i + 1]}'.", hint="Check the key path with `mlw config show`.")
        target = child
    target[parts[-1]] = value
    prefix = tuple(parts)
    for stale in [kp for kp in lines if kp[:len(prefix)] == prefix]:
        del lines[stale]  # the file's lines no longer describe what is there
    _mark_override(value, prefix, lines)


def _mark_override(value: Any, key_path: KeyPath, lines: dict[KeyPath, int]) -> None:
    """Line -1 means "from --set", for the key and everything inside its value."""
    lines[key_path] = -1
    if isinstance(value, dict):
        for key, item in value.items():
            _mark_override(item, key_path + (key,), lines)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _mark_override(item, key_path + (index,), lines)


def _expand_env(value: Any, key_path: KeyPath, templates: dict[KeyPath, str], where: Any) -> Any:
    if isinstance(value, dict):
        return {k: _expand_env(v, key_path + (k,), templates, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, key_path + (i,), templates, where) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{where(key_path)} uses ${{{name}}}, but the environment variable {name} is not set.",
                          hint=f"Export it before running mlw (export {name}=...), or write ${{{name}:-default}}.")

    templates[key_path] = value
    return _ENV.sub(substitute, value)


def _resolve_paths(config: Config) -> None:
    monitor = config.model.monitor
    for source in (config.model.data.source, config.model.data.items, monitor.current, monitor.labels,
                   config.model.retrain.judge_on):
        if source is not None:
            _resolve_source(config, source)


def _resolve_source(config: Config, source: Any) -> None:
    if source.path:
        source.path = str(config.resolve(source.path))
    if source.url and source.url.startswith("sqlite:///") and not source.url.startswith("sqlite:////"):
        db = source.url[len("sqlite:///"):]
        if db and db != ":memory:" and not db.startswith("${"):
            source.url = "sqlite:///" + str(config.resolve(db))


def _set_path(data: dict[str, Any], key_path: KeyPath, value: Any) -> None:
    target: Any = data
    for part in key_path[:-1]:
        target = target[part]
    target[key_path[-1]] = value


# --------------------------------------------------------------------------- messages


def _format_validation(exc: ValidationError, path: Path, lines: dict[KeyPath, int],
                       templates: dict[KeyPath, str]) -> str:
    grouped: dict[KeyPath, list[dict[str, Any]]] = {}
    for error in exc.errors():
        loc = _clean_loc(tuple(part for part in error["loc"] if not str(part).startswith("function-")))
        grouped.setdefault(loc, []).append(error)
    problems = [_describe(errors, loc, path, lines, templates) for loc, errors in grouped.items()]
    head = f"{path.name} has {len(problems)} problem{'s' if len(problems) > 1 else ''}:" if len(problems) > 1 else ""
    body = "\n".join(f"  - {p}" for p in problems) if head else problems[0]
    return f"{head}\n{body}" if head else body


def _describe(errors: list[dict[str, Any]], loc: KeyPath, path: Path, lines: dict[KeyPath, int],
              templates: dict[KeyPath, str]) -> str:
    """One problem per key path; the members of a union (str | int) become one 'must be a or b'."""
    error = errors[0]
    kind = error["type"]
    if kind == "extra_forbidden":
        parent, key = loc[:-1], loc[-1]
        allowed = _fields_at(MlwConfig, parent)
        section = f"`{'.'.join(map(str, parent))}`" if parent else "the top level"
        line = lines.get(loc)
        at = f" ({path.name}:{line})" if line and line > 0 else (" (from --set)" if line == -1 else "")
        return (f"Unknown key '{key}' in {section}{at}.{did_you_mean(str(key), allowed)} "
                f"Allowed keys: {', '.join(allowed)}.")
    nearest = _nearest(loc, lines)
    located = _where(path, lines, nearest)
    if kind == "missing":
        parent = _where(path, lines, loc[:-1]) if loc[:-1] else f"the top level of {path.name}"
        return f"`{'.'.join(map(str, loc))}` is required (missing in {parent})."
    if nearest != loc:
        located = f"`{'.'.join(map(str, loc))}` (in {located})"
    message = error["msg"]
    # pydantic says "Input/String/List should ..."; our template is "`key` (file:line) must ...".
    message = re.sub(r"^(?:Value error, |[A-Z][a-z]* should )",
                     lambda m: "" if m.group(0).startswith("Value") else "must ", message)
    if kind.startswith("value_error") or error["msg"].startswith("Value error"):
        return f"{located}: {message}."
    for other in errors[1:]:
        message += " or " + re.sub(r"^[A-Z][a-z]* should (?:be )?", "", other["msg"])
    if loc in templates:  # never echo what a ${VAR} expanded to: it may be a secret
        return f"{located} {message}. Got the value of {templates[loc]!r}."
    return f"{located} {message}. Got {error.get('input')!r}."


def _nearest(loc: KeyPath, lines: dict[KeyPath, int]) -> KeyPath:
    """The deepest prefix of loc that has a known line (a missing key has none)."""
    for end in range(len(loc), 0, -1):
        if tuple(loc[:end]) in lines:
            return tuple(loc[:end])
    return loc


def _clean_loc(loc: KeyPath) -> KeyPath:
    """Drop the member names pydantic adds under a union field (`sheet.str`): not keys the user wrote."""
    current: Any = MlwConfig
    cleaned: list[Any] = []
    for part in loc:
        current = _unwrap_optional(current)
        origin, args = typing.get_origin(current), typing.get_args(current)
        if origin in (typing.Union, types.UnionType):
            current = Any
            continue
        cleaned.append(part)
        if isinstance(current, type) and issubclass(current, BaseModel):
            current = current.model_fields[part].annotation if part in current.model_fields else Any
        elif origin is dict and len(args) == 2:
            current = args[1]
        elif origin is list and args:
            current = args[0]
        else:
            current = Any
    return tuple(cleaned)


def _fields_at(model: type[BaseModel], loc: KeyPath) -> list[str]:
    """The field names of the section at loc, walking through Optional, list and dict types."""
    current: Any = model
    for part in loc:
        current = _unwrap_optional(current)
        origin, args = typing.get_origin(current), typing.get_args(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            if part not in current.model_fields:
                return []
            current = current.model_fields[part].annotation
        elif origin is dict and len(args) == 2:
            current = args[1]
        elif origin is list and args:
            current = args[0]
        else:
            return []
    current = _unwrap_optional(current)
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        return models[0] if models else (args[0] if len(args) == 1 else annotation)
    return annotation


def json_schema() -> dict[str, Any]:
    """JSON Schema for mlw.yaml, so editors can validate and autocomplete it."""
    schema = MlwConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mlw.yaml"
    return schema
