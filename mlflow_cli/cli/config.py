"""`mlw config validate|show|schema`."""

from __future__ import annotations



from mlflow_cli.cli import console
from mlflow_cli.cli.app import config_app
from mlflow_cli.cli.common import DEFAULT_CONFIG, ConfigOpt, JsonOpt, SetOpt, guarded, load


@config_app.command("validate")
@guarded
def config_validate(config: ConfigOpt = DEFAULT_CONFIG, set_: SetOpt = None, json_out: JsonOpt = False) -> None:
    """Check the config; exit 2 naming every problem.

    Example: `mlw config validate -c mlw.yaml`
    """
    cfg = load(config, set_)
    console.emit({"valid": True, "config": str(cfg.path)},
                 lambda: console.print_text(f"{cfg.path.name} is valid (project '{cfg.model.project}')."))


@config_app.command("show")
@guarded
def config_show(config: ConfigOpt = DEFAULT_CONFIG, set_: SetOpt = None, json_out: JsonOpt = False) -> None:
    """Print the resolved config with all defaults.

    Values that came from ${VAR} are shown as the template, never the secret.

    Example: `mlw config show --set prepare.split.seed=7`
    """
    import yaml

    cfg = load(config, set_)
    data = cfg.dump()
    console.emit(data, lambda: console.print_text(yaml.safe_dump(data, sort_keys=False).rstrip()))


@config_app.command("schema")
@guarded
def config_schema() -> None:
    """Print the JSON Schema of mlw.yaml (for editors).

    Example: `mlw config schema > mlw.schema.json`
    """
    import json

    from mlflow_cli.core.config import json_schema

    schema = json_schema()
    console.emit(schema, lambda: console.print_text(json.dumps(schema, indent=2)))
