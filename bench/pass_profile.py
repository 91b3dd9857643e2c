"""Where a pass's run spends its time: the timeline of one ansible-runner run from its job
events (each event's `created`), one line per play, task and host result.

    .venv/bin/python bench/pass_profile.py <state_dir>/artifacts/<ident>   # or: --last <state_dir>
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path

SHOWN = ("playbook_on_play_start", "playbook_on_task_start", "playbook_on_stats")


def timeline(run_dir: Path) -> list[tuple[float, str, str, str]]:
    events = [json.loads(p.read_text()) for p in (run_dir / "job_events").glob("*.json")]
    events.sort(key=lambda e: e["counter"])
    if not events:
        return []
    start = datetime.fromisoformat(events[0]["created"])
    rows = []
    for event in events:
        kind = event["event"]
        if kind not in SHOWN and kind not in ("runner_on_ok", "runner_on_failed"):
            continue
        data = event.get("event_data") or {}
        name = data.get("task") or data.get("name") or data.get("play") or ""
        at = (datetime.fromisoformat(event["created"]) - start).total_seconds()
        rows.append((at, kind, data.get("host", ""), name))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", type=Path)
    parser.add_argument("--last", type=Path, help="a state directory: its newest run")
    args = parser.parse_args()
    run_dir = args.run_dir
    if args.last:
        runs = sorted((args.last / "artifacts").iterdir(), key=lambda p: p.stat().st_mtime)
        run_dir = runs[-1]
    for at, kind, host, name in timeline(run_dir):
        print(f"{at:7.2f}s {kind:24} {host[:28]:28} {name[:80]}")


if __name__ == "__main__":
    main()
