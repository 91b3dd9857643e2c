"""Marshmallow's nested error messages as the flat {field path: message} every answer shows."""

from __future__ import annotations

import json


def flatten_errors(messages, prefix: str = "") -> dict[str, str]:
    """Turn marshmallow's nested messages into {'spec.env[1].bar': 'unknown field'}."""
    flat: dict[str, str] = {}
    if isinstance(messages, list):
        flat[prefix or "(document)"] = "; ".join(_humanise(m) for m in messages)
        return flat
    if isinstance(messages, str):
        flat[prefix or "(document)"] = _humanise(messages)
        return flat
    for key, value in messages.items():
        if isinstance(key, int):
            path = f"{prefix}[{key}]"
        elif key == "_schema":
            path = prefix
        else:
            path = f"{prefix}.{key}" if prefix else str(key)
        flat.update(flatten_errors(value, path))
    return flat


_MESSAGES = {
    "Unknown field.": "unknown field",
    "Missing data for required field.": "required field is missing",
    "Not a valid integer.": "must be a whole number",
    "Not a valid string.": "must be a string",
    "Not a valid list.": "must be a list",
    "Invalid input type.": "must be a mapping",
    "Field may not be null.": "must not be null",
}


def _humanise(message) -> str:
    if isinstance(message, dict):  # nested errors in a list position
        return json.dumps(message)
    return _MESSAGES.get(message, message)
