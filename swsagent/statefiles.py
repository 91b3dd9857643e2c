"""The agent's small state files in its state directory (retries, orphans first seen, stops
under way): a JSON mapping each, read whole, written whole and atomically (a pass killed while
writing leaves the previous file)."""

from __future__ import annotations

import json
from pathlib import Path


def load_map(state_dir, name: str) -> dict:
    """The file's mapping; {} when it is missing or not a JSON mapping."""
    try:
        data = json.loads((Path(state_dir) / name).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_map(state_dir, name: str, data: dict) -> None:
    """Write it (sorted keys); an empty mapping writes nothing where no file was."""
    path = Path(state_dir) / name
    if not data and not path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, sort_keys=True))
    tmp.replace(path)
