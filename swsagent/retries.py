"""Failed generations are tried again a bounded number of times, with a growing wait.

A failure may be passing (a registry hiccup, a host out of memory for a moment), so a failed
generation is deployed again after retry_backoff seconds, then twice that, and so on, at most
retry_failed times; then it waits for a new apply. Each failure's message says which attempt
it was and when the next one comes (or that none will). The count lives in the agent's state
directory (retries.json): losing it only restarts the count.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from swscore.contract import ServiceStatus

FILE = "retries.json"


@dataclass
class Attempts:
    generation: int
    failures: int
    next_try: float  # time.time()


def load(state_dir) -> dict[str, Attempts]:
    try:
        raw = json.loads((Path(state_dir) / FILE).read_text())
        return {name: Attempts(**value) for name, value in raw.items()}
    except (OSError, ValueError, TypeError):
        return {}


def save(state_dir, attempts: dict[str, Attempts]) -> None:
    path = Path(state_dir) / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({n: a.__dict__ for n, a in sorted(attempts.items())}))
    tmp.replace(path)


def due(desired, attempts: dict[str, Attempts], limit: int, now: float) -> set[str]:
    """The failed services whose generation may be tried again now."""
    names = set()
    for service in desired:
        entry = attempts.get(service.name)
        if (
            service.status != ServiceStatus.FAILED
            or entry is None
            or entry.generation != service.generation
        ):
            continue
        if entry.failures <= limit and now >= entry.next_try:
            names.add(service.name)
    return names


def note_failure(
    attempts: dict[str, Attempts], name: str, generation: int, limit: int, backoff: float, now
) -> str:
    """Count a failure; the words to add to its message."""
    entry = attempts.get(name)
    failures = entry.failures + 1 if entry and entry.generation == generation else 1
    wait = backoff * 2 ** (failures - 1)
    attempts[name] = Attempts(generation, failures, now + wait)
    if failures > limit:
        return f"(attempt {failures}, the last: apply again to retry)"
    return f"(attempt {failures} of {limit + 1}; next in {wait:g} s)"


def forget_others(attempts: dict[str, Attempts], failed_now: set[str], desired) -> None:
    """Keep only services still failed at the generation counted."""
    status = {s.name: (s.status, s.generation) for s in desired}
    for name in list(attempts):
        if name in failed_now:
            continue
        state = status.get(name)
        if (
            state is None
            or state[0] != ServiceStatus.FAILED
            or state[1] != attempts[name].generation
        ):
            del attempts[name]


def with_note(message: str, note: str, limit: int = 290) -> str:
    room = limit - len(note) - 1
    return (message if len(message) <= room else message[: room - 3] + "...") + " " + note
