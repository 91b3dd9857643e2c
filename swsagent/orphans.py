"""Orphans: containers labelled as SWS services that the store does not list.

An orphan is stopped and reported at once (it may hold a domain's traffic nobody owns any
more; the stop runs in the background, as every retired container's), but removed only after
it stayed an orphan for `orphan_grace` seconds: a store restored from an older backup, or a row
deleted by hand, gets its service back within that time with its container and data untouched.
When each orphan was first seen is kept in <state_dir>/orphans.json. The max_orphan_share
guard (plan.hold_orphans) runs first: orphans it holds are neither stopped nor removed.
"""

from __future__ import annotations

from pathlib import Path

from swsagent.observe import RunningContainer
from swsagent.plan import CleanupPlan
from swsagent.statefiles import load_map, save_map

STATE_FILE = "orphans.json"


def load(state_dir: Path) -> dict[str, float]:
    return {str(k): float(v) for k, v in load_map(state_dir, STATE_FILE).items()}


def save(state_dir: Path, seen: dict[str, float]) -> None:
    save_map(state_dir, STATE_FILE, seen)


def due(plan_orphans: list[str], seen: dict[str, float], grace: float, now: float) -> list[str]:
    """The orphans that stayed orphans for `grace` seconds; updates `seen` (new orphans start
    their clock now, services that are no orphans any more are forgotten)."""
    for name in [n for n in seen if n not in plan_orphans]:
        del seen[name]
    for name in plan_orphans:
        seen.setdefault(name, now)
    return [n for n in plan_orphans if now - seen[n] >= grace]


def settle(
    plan: CleanupPlan,
    containers: list[RunningContainer],
    seen: dict[str, float],
    grace: float,
    now: float,
) -> list[str]:
    """Which orphans the retire step stops (kept, `plan.stop_only`) and which it removes (due).
    Pure: `seen` (orphans.load) is updated in place, for the pass to save when it records.

    plan.orphans keeps the orphans the run acts on: those due for removal, and those with a
    container still running (stopped in the background, like any retired container). Returns
    the containers to stop now."""
    removable = set(due(plan.orphans, seen, grace, now))
    running = {c.name for c in containers if c.service in plan.orphans and c.running}
    acted, stopping = [], []
    for name in plan.orphans:
        if name in removable:
            acted.append(name)
            continue
        to_stop = [c for c in plan.containers.get(name, []) if c in running]
        plan.containers[name] = to_stop
        if to_stop:
            plan.stop_only.add(name)
            acted.append(name)
            stopping += to_stop
    plan.orphans = acted
    return stopping
