"""A deploy's image (issue 26): from a registry, checked with the service owner's own
credentials before it runs; pulled when the registry serves another digest than the host has.

Docker keeps one image store for everyone: once Alice pulled her private image, Bob's service
naming it would start from the host's copy without any registry asking who he is. So every
deploy of an image whose reference names a registry host asks the registry first, with the
owner's credentials (or none), for the manifest's digest (the engine's `GET
/distribution/<ref>/json`, which pulls nothing). A refusal fails the deploy with the registry's
words, even when the image is here. The digest the registry serves for the tag is compared
with the local image's RepoDigests, which hold the digest the image was pulled (or pushed) by
for its repository: the top-level manifest's, a manifest list's when the tag names one, as
the distribution answer's descriptor does; equal, the host's copy is used (public images keep
the cache), else the tag is pulled again. A name with no registry host (sws-local/hello:2, the
operator's own builds, Docker Hub's short names that cannot be pulled here anyway) is not a
registry image: it runs from the host as before, unchecked.

The credentials reach this module as a value the action plugin read from a host variable:
never a task argument, an event or a log line. Standard library only.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import socket

from ansible_collections.sws.host.plugins.module_utils.engine import Engine, EngineError


class ImageRefused(RuntimeError):
    """Why the deploy may not use its image (a short reason for the service's message)."""


def registry_address(image: str) -> str | None:
    """The registry of an image reference (`host[:port]`), or None for a name with none.
    The same rule as swscore/registries.registry_address (tests/unit/test_registries.py)."""
    first, slash, _ = image.partition("/")
    if not slash or not ("." in first or ":" in first or first == "localhost"):
        return None
    return first.lower()


def split_reference(image: str) -> tuple[str, str]:
    """(repository, tag or digest): what the engine's pull takes apart; no tag means latest."""
    if "@" in image:
        repository, _, digest = image.partition("@")
        return repository, digest
    head, slash, last = image.rpartition("/")
    name, colon, tag = last.partition(":")
    return (head + slash + name, tag) if colon else (image, "latest")


def auth_header(auth: dict | None, address: str) -> str | None:
    """The X-Registry-Auth value for these credentials (base64url JSON, as docker sends it)."""
    if not auth:
        return None
    document = {
        "username": str(auth["username"]),
        "password": str(auth["password"]),
        "serveraddress": address,
    }
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode()


def own_addresses() -> set[str]:
    """This host's addresses: each interface's IPv4 (the kernel's local routes) and IPv6."""
    found: set[str] = set()
    try:
        with open("/proc/net/fib_trie") as trie:
            last = ""
            for line in trie:
                words = line.split()
                if words[:1] == ["|--"]:
                    last = words[1]
                elif words[:2] == ["/32", "host"] and last:
                    found.add(last)
    except OSError:
        pass
    try:
        with open("/proc/net/if_inet6") as inet6:
            for line in inet6:
                raw = line.split()[0]
                found.add(str(ipaddress.IPv6Address(bytes.fromhex(raw))))
    except (OSError, ValueError, IndexError):
        pass
    return found


def registry_problem(address: str, allowed: list[str], own: set[str] | None = None) -> str | None:
    """Why this host may not pull from `address`: the operator's list leaves it out, or it
    resolves to one of the host's own addresses (the engine pulls as root from wherever a
    reference points: a name resolving to the host would reach its own ports)."""
    host = address.rpartition(":")[0] if ":" in address else address
    wanted = {a.lower() for a in allowed}
    if wanted and address not in wanted and host not in wanted:
        return f"registry {address} is not one this host pulls from (sws_registries_allowed)"
    try:
        resolved = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return None  # the engine's own lookup reports it, in the registry's check
    mine = resolved & (own_addresses() if own is None else own)
    if mine:
        return f"registry {address} is this host itself ({sorted(mine)[0]})"
    return None


def _refusal(address: str, auth: dict | None, err: EngineError) -> str:
    whose = "the owner's credentials" if auth else "no credentials (swsctl registry login)"
    detail = " ".join(str(err).split())[:160]
    return f"registry {address} refused the image with {whose}: {detail}"


def prepare(engine: Engine, image: str, auth: dict | None, allowed: list[str], pull: bool) -> str:
    """Make the image usable for this deploy; returns local, cached or pulled.
    ImageRefused when it may not be used (or could not be had)."""
    address = registry_address(image)
    local = engine.image(image)
    if address is None:
        if local is not None:
            return "local"
        return _pull(engine, image, None, pull)
    problem = registry_problem(address, allowed)
    if problem:
        raise ImageRefused(problem)
    header = auth_header(auth, address)
    try:
        served = engine.distribution(image, header)
    except EngineError as err:
        raise ImageRefused(_refusal(address, auth, err)) from None
    digest = str((served.get("Descriptor") or {}).get("digest") or "")
    repository = split_reference(image)[0]
    if local is not None and f"{repository}@{digest}" in (local.get("RepoDigests") or []):
        return "cached"
    return _pull(engine, image, header, pull)


def _pull(engine: Engine, image: str, header: str | None, pull: bool) -> str:
    if not pull:
        raise ImageRefused(f"image {image} is not on this host")
    try:
        engine.pull(*split_reference(image), header)
    except EngineError as err:
        detail = " ".join(str(err).split())[:160]
        raise ImageRefused(
            f"image {image} is not on this host and could not be pulled: {detail}"
        ) from None
    return "pulled"
