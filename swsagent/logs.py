"""The agent's log: rotated by size when it goes to a file, and a message that repeats (the
same failure pass after pass) written once in full, then as one line with its count.

Messages are compared with their numbers taken out (pass ids, durations), so "pass 12 failed in
2.1s: X" and "pass 13 failed in 2.3s: X" are the same message.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys

FORMAT = "%(asctime)s sws-agent %(message)s"
MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5
_NUMBERS = re.compile(r"\d+(\.\d+)?")
# Even a message that keeps repeating is written in full this often, so the log shows the agent
# is alive and still seeing it.
REPEAT_EVERY = 100


class CollapseRepeats(logging.Filter):
    def __init__(self):
        super().__init__()
        self.last: str | None = None
        self.repeats = 0

    def filter(self, record: logging.LogRecord) -> bool:
        key = _NUMBERS.sub("#", record.getMessage())
        if key == self.last and self.repeats + 1 < REPEAT_EVERY:
            self.repeats += 1
            return False
        if self.repeats:
            record.msg = f"(the previous message repeated {self.repeats} more times) {record.msg}"
        self.last, self.repeats = key, 0
        return True


def setup(verbose: bool, log_file: str | None) -> None:
    if log_file:
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=MAX_BYTES, backupCount=BACKUPS
        )
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(CollapseRepeats())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
