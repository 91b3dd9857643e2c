"""Orphans: containers labelled as SWS services that the store does not list.

An orphan is stopped and reported at once (it may hold a domain's traffic nobody owns any
more), but removed only after it stayed an orphan for `orphan_grace` seconds: a store restored
from an older backup, or a row deleted by hand, gets its service back within that time with
its container and data untouched. When each orphan was first seen is kept in
<state_dir>/orphans.json. The max_orphan_share guard (plan.hold_orphans) runs first: orphans it
holds are neither stopped nor removed.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from swsapi.agent.observe import RunningContainer
from swsapi.agent.plan import CleanupPlan

STATE_FILE = "orphans.json"


def load(state_dir: Path) -> dict[str, float]:
    try:
        data = json.loads((Path(state_dir) / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}


def save(state_dir: Path, seen: dict[str, float]) -> None:
    path = Path(state_dir) / STATE_FILE
    if not seen and not path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(seen, sort_keys=True))
    tmp.replace(path)


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
    state_dir: Path,
    grace: float,
    stop_timeout: int,
    now: float,
) -> tuple[list[str], list[str]]:
    """Stop the orphans' running containers; keep in plan.orphans only those due for removal.

    Returns (containers stopped now, problems)."""
    seen = load(state_dir)
    removable = due(plan.orphans, seen, grace, now)
    save(state_dir, seen)
    running = [c.name for c in containers if c.service in plan.orphans and c.running]
    plan.orphans = removable
    if not running:
        return [], []
    result = subprocess.run(
        ["docker", "stop", "-t", str(stop_timeout), *running],
        capture_output=True,
        text=True,
        timeout=60 + stop_timeout * len(running),
    )
    if result.returncode != 0:
        why = (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1]
        return running, [f"could not stop the orphan container(s) {', '.join(running)}: {why}"]
    return running, []
