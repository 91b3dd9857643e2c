"""What a pass says of itself (its journal row and its log line), and the guard it checks
before every stage that changes something: its deadline and its lock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from swsagent.lock import LockLost


@dataclass
class PassReport:
    outcome: str = "noop"  # noop | changed | degraded | failed | aborted
    changed: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # worth saying, not a failure
    degraded: list[str] = field(default_factory=list)  # control plane still down after the pass
    seconds: float = 0.0
    jobs_wake: float | None = None  # the jobs step after the pass: when it wants to run again

    def note(self, key: str, value) -> None:
        if value:
            self.changed[key] = value

    def summary(self) -> str:
        parts = [f"{k}={_fmt(v)}" for k, v in sorted(self.changed.items())]
        parts += [f"problem={p!r}" for p in self.problems]
        parts += [f"notice={n!r}" for n in self.notices]
        return f"{self.outcome} in {self.seconds:.2f}s" + (": " + " ".join(parts) if parts else "")

    def conclude(self) -> None:
        if self.problems:
            self.outcome = "failed"
        elif self.degraded or self.changed.keys() == {"down"}:
            self.outcome = "degraded"
        elif self.changed:
            self.outcome = "changed"


def _fmt(value) -> str:
    if isinstance(value, dict):
        return ",".join(sorted(value))
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


class PassAborted(RuntimeError):
    """The pass stopped before changing anything more: its deadline passed, or it lost the
    lock (another pass may have started)."""


class Guard:
    """Checked before every stage that changes something: the pass's deadline and its lock."""

    def __init__(self, seconds: float, still_locked: Callable[[], None] | None = None):
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.still_locked = still_locked

    def check(self, stage: str) -> None:
        if time.monotonic() > self.deadline:
            raise PassAborted(f"the pass passed its deadline of {self.seconds:g}s before {stage}")
        if self.still_locked is not None:
            try:
                self.still_locked()
            except LockLost as err:
                raise PassAborted(f"{err}; stopped before {stage}") from None

    def remaining(self) -> int:
        return max(1, int(self.deadline - time.monotonic()))
