"""How a value looks in a table cell or a line: numbers, clipped text, sizes. Shared by the
render modules; plain string functions that depend on nothing and print nothing."""

from __future__ import annotations

from typing import Any


def fmt(value: Any, digits: int = 4) -> str:
    """A table cell: floats to `digits` significant digits, ints with thousands separators, None as blank."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def clip(value: Any, width: int = 24) -> str:
    """At most `width` characters, an ellipsis marking a cut."""
    text = str(value)
    return text if len(text) <= width else text[:width - 1] + "…"


def human_size(n: int) -> str:
    """Bytes as B, KB, MB or GB (powers of 1024)."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
