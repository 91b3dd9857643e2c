"""Stops under way: containers the retire step left to a background stop (module_utils/retire.py).

No pass waits for a container's stop timeout. The retire step removes what is stopped at once
and hands what still runs to a child process; this file remembers when each was handed over
(<state_dir>/removals.json), so a later pass neither starts a second stop of the same container
nor waits for it, and a stop that outlived its time is reported and killed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from swsagent.statefiles import load_map, save_map

STATE_FILE = "removals.json"
# Beyond the stop timeout: the engine's own work (unmounting, removing the layer) and a busy host.
SLACK_SECONDS = 30


@dataclass
class Stops:
    """{container: when its background stop began} and what that means for this pass."""

    started: dict[str, float] = field(default_factory=dict)
    overdue: list[str] = field(default_factory=list)  # still here past stop_timeout + slack

    def under_way(self) -> set[str]:
        """Containers a pass must leave alone (their stop is running and not late)."""
        return set(self.started) - set(self.overdue)


def load(state_dir: Path) -> dict[str, float]:
    return {str(k): float(v) for k, v in load_map(state_dir, STATE_FILE).items()}


def save(state_dir: Path, started: dict[str, float]) -> None:
    save_map(state_dir, STATE_FILE, started)


def observe(state_dir: Path, running: set[str], stop_timeout: float, now: float) -> Stops:
    """The stops still under way: of the containers handed over, those still running (one that
    is gone is done; one stopped but left is the plan's to take again)."""
    started = {name: t for name, t in load(state_dir).items() if name in running}
    late = stop_timeout + SLACK_SECONDS
    overdue = sorted(name for name, t in started.items() if now - t >= late)
    return Stops(started, overdue)


def handed_over(state_dir: Path, stops: Stops, background: list[str], now: float) -> None:
    """Record the containers this pass's run handed to a background stop (a retry of an overdue
    one starts its clock again)."""
    for name in background:
        if name not in stops.started or name in stops.overdue:
            stops.started[name] = now
    save(state_dir, stops.started)
