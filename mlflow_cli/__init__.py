"""mlw: the whole machine-learning workflow from one YAML file.

Kept light on purpose: `mlw --help` must not pay for pandas or pydantic. The one thing done on
import is to keep old module paths importable for models pickled under them (models/legacy.py).
"""

__version__ = "0.1.0"

from mlflow_cli.models.legacy import install_moved_modules  # noqa: E402

install_moved_modules()
