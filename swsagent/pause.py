"""The operators' (and tests') switch that stops every pass: a file in the state directory.

`sws-agent run` (cron) and `sws-agent watch` both look for it before a pass, so one switch
stops both; a pass already running finishes.
"""

from __future__ import annotations

import time
from pathlib import Path

FLAG = "paused"


def flag(state_dir) -> Path:
    return Path(state_dir) / FLAG


def paused(state_dir) -> bool:
    return flag(state_dir).exists()


def reason(state_dir) -> str:
    try:
        return flag(state_dir).read_text().strip() or "no reason given"
    except OSError:
        return "no reason given"


def pause(state_dir, why: str = "") -> None:
    path = flag(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    path.write_text(f"since {stamp}" + (f": {why}" if why else "") + "\n")


def resume(state_dir) -> bool:
    """True when it was paused."""
    try:
        flag(state_dir).unlink()
    except FileNotFoundError:
        return False
    return True
