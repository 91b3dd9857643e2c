"""Numbers in query strings: ASCII digits only, within bounds.

`str.isdigit` alone takes "²" and other Unicode digits that `int` then refuses (a 500): every
whole-number argument of the API is read here.
"""

from __future__ import annotations


def whole_number(raw: str, low: int, high: int) -> int | None:
    """The number, or None when raw is not a whole number from low to high."""
    if not raw.isascii() or not raw.isdigit():
        return None
    value = int(raw)
    return value if low <= value <= high else None
