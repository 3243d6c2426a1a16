"""Cell formatting for the pages added beside the leaderboards (calibration, robustness, sensitivity).

The same rules as the dataset pages: fixed decimals, a dash for a missing figure, a real minus sign,
pre-formatted strings through tabulate's github format, so that pages are a function of their data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

DASH = "—"
MINUS = "−"


def missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def num(value: Any, digits: int) -> str:
    return DASH if missing(value) else f"{float(value):.{digits}f}"


def signed(value: Any, digits: int = 2) -> str:
    """+0.12 / −1.03; zero after rounding has no sign."""
    if missing(value):
        return DASH
    rounded = round(float(value), digits)
    if rounded == 0:
        return f"{0.0:.{digits}f}"
    return f"{'+' if rounded > 0 else MINUS}{abs(rounded):.{digits}f}"


def text(value: Any) -> str:
    if missing(value) or value == "":
        return DASH
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(headers: Sequence[str], rows: list[list[str]], right: set[str] | Sequence[str] = ()) -> str:
    from tabulate import tabulate

    right = set(right)
    align = tuple("right" if h in right else "left" for h in headers)
    return tabulate(rows, headers=list(headers), tablefmt="github", disable_numparse=True, colalign=align)


def write(path, content: str):
    """Bytes, not text mode: no platform newline translation."""
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8"))
    return path
