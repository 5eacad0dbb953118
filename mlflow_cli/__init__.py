"""mlw: the whole machine-learning workflow from one YAML file.

Kept import-free on purpose: `mlw --help` must not pay for pandas or pydantic.
"""

__version__ = "0.1.0"
