"""Showing a wait in progress: a spinner on a terminal, plain lines in logs and pipes.

Progress goes to standard error so that standard output stays the command's result.
"""

from __future__ import annotations

import shutil
import sys
import time

from swsctl.output import progress

SPINNER = "|/-\\"


class Progress:
    """An observer for swsctl.wait: called with each look at the service."""

    def __init__(self, stream=None, interactive: bool | None = None):
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.started = time.monotonic()
        self.looks = 0
        self.last_line = ""

    def __call__(self, service: dict) -> None:
        line = progress(service)
        if self.interactive:
            elapsed = int(time.monotonic() - self.started)
            frame = SPINNER[self.looks % len(SPINNER)]
            text = f"{frame} {line} [{elapsed}s]"
            # A line that wraps could not be redrawn in place: cut it to the terminal's width.
            width = shutil.get_terminal_size().columns - 1
            if len(text) > width:
                text = text[: max(width - 3, 0)] + "..."
            # \r and erase-line rewrite the same terminal line on every look.
            self.stream.write(f"\r\x1b[K{text}")
            self.stream.flush()
        elif line != self.last_line:
            self.stream.write(line + "\n")
            self.stream.flush()
        self.looks += 1
        self.last_line = line

    def close(self) -> None:
        """End the spinner's line so the next output starts on a fresh one."""
        if self.interactive and self.looks:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
        self.looks = 0
