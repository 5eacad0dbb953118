"""Durations as users write them: '30m', '24h', '7d', '2w' (monitor's --since/--window/--every,
prepare.window, retrain.window)."""

from __future__ import annotations

import re
from datetime import timedelta

from mlflow_cli.core.errors import ConfigError

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration(text: str, option: str) -> timedelta:
    """'30m', '24h', '7d', '2w' as a timedelta, or ConfigError naming the option."""
    match = DURATION.match(text or "")
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"{option} must be a duration such as 30m, 24h, 7d or 2w. Got '{text}'.")
    return timedelta(seconds=float(match.group(1)) * UNITS[match.group(2)])
