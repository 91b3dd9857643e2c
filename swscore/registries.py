"""Private registries (issue 26): which registry an image comes from, and which registry hosts a
user may keep credentials for.

Credentials are keyed by the registry's address as Docker keys them (`host[:port]`, the first
component of an image reference), so `10.0.0.5:5000/a/app:1` uses the credentials stored for
`10.0.0.5:5000`. Pure functions: the apiserver checks a login's host with them, the agent reads
an image's registry with them.
"""

from __future__ import annotations

import re

from swscore.hostnames import host_registry_problem

# host[:port]: a hostname (labels of letters, digits and hyphens) or an IPv4 address, with an
# optional port. IPv6 literals are left out: Docker's references cannot carry them unbracketed
# and no test here needs them.
_ADDRESS = re.compile(
    r"^(?=.{1,253}(:\d{1,5})?$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
    r"(:\d{1,5})?$"
)


def registry_address(image: str) -> str | None:
    """The registry of an image reference as Docker keys credentials (`host[:port]`), or None
    for a name with no registry host (Docker Hub's, or a local build's like sws-local/hello:2).
    """
    first, slash, _ = image.partition("/")
    if not slash or not ("." in first or ":" in first or first == "localhost"):
        return None  # Docker reads the first component as a registry only if it looks like one
    return first.lower()


def address_problem(address: str, reserved: frozenset[str] = frozenset()) -> str | None:
    """Why `address` is no registry a user may log in to, or None.

    reserved: the host's own domains (SWS_RESERVED_DOMAINS): the host is never a registry.
    """
    if not _ADDRESS.match(address):
        return "must be a registry host, host[:port] (registry.example.com, 10.0.0.5:5000)"
    problem = host_registry_problem(f"{address}/x")
    if problem:
        return problem
    host = address.rpartition(":")[0] if ":" in address else address
    if host in reserved or any(host.endswith("." + d) for d in reserved):
        return f"must not be the host's own domain ({host})"
    return None


def allowed(address: str, allowed_hosts: tuple[str, ...] | frozenset[str]) -> bool:
    """Whether the operator's list admits this registry (empty: any registry); an entry without
    a port admits every port of its host."""
    wanted = {a.lower() for a in allowed_hosts}
    address = address.lower()
    return not wanted or address in wanted or address.rpartition(":")[0] in wanted


def parse_allowed(raw: str | None) -> tuple[str, ...]:
    """SWS_REGISTRIES_ALLOWED (comma-separated) as the operator's list."""
    return tuple(a.strip().lower() for a in (raw or "").split(",") if a.strip())
