"""The failures swsctl knows how to explain; the CLI turns each kind into its own exit code.

The library raises these and nothing else for expected failures, so the CLI boundary needs
one mapping from class to exit code and no knowledge of HTTP or files.
"""

from __future__ import annotations


class SwsError(Exception):
    """An expected failure with a message meant for the user."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


class InvalidInput(SwsError):
    """Something the user gave (a file, an option, a request) is not acceptable."""


class FieldProblem:
    """One invalid field: its path in the definition, the file's line if known, the message."""

    __slots__ = ("path", "line", "message")

    def __init__(self, path: str, message: str, line: int | None = None):
        self.path = path
        self.message = message
        self.line = line

    def __str__(self) -> str:
        if self.path.startswith("("):  # the whole document: only the line says where
            return f"line {self.line}: {self.message}" if self.line else self.message
        where = f"{self.path} (line {self.line})" if self.line else self.path
        return f"{where}: {self.message}"

    def __repr__(self) -> str:
        return f"FieldProblem({self.path!r}, {self.message!r}, line={self.line!r})"


class InvalidDefinition(InvalidInput):
    """A service definition refused, locally or by the server, with one problem per field."""

    def __init__(self, source: str, problems: list[FieldProblem], *, by_server: bool = False):
        self.source = source
        self.problems = problems
        self.by_server = by_server
        who = "the server refused" if by_server else "invalid service definition in"
        lines = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(f"{who} {source}:\n{lines}")


class NotConfigured(SwsError):
    """No API address or token: neither the config file nor the environment has one."""


class Unauthorized(SwsError):
    """The server refused the token (401) or the caller may not do this (403)."""


class NotFound(SwsError):
    """The service (or the API itself, at a wrong address) does not exist (404)."""


class Conflict(SwsError):
    """The change clashes with another service: a name or domain that is taken (409)."""


class Unreachable(SwsError):
    """No answer from the API: refused connection, DNS failure, TLS failure or timeout."""


class ServerError(SwsError):
    """The server failed (5xx) or answered something that is not the SWS API."""


class WaitFailed(SwsError):
    """The agent reported the service failed while we were waiting for it."""

    def __init__(self, message: str, service: dict | None = None):
        self.service = service
        super().__init__(message)


class WaitTimedOut(SwsError):
    """The service did not reach the wanted state before --timeout ran out."""
