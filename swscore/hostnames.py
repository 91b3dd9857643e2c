"""The host's own names and addresses, which no tenant may take (issue 25).

A service's domain must not be the host itself: `localhost` or an IPv4 address (the host's
own among them) would route the host's names to a tenant. An image must not come from a
registry on the host: the Docker daemon pulls as root from wherever a reference points, and a
registry host of 127.0.0.1:55432 made it talk to the store's port. Pure functions: specfields
calls them from the v1 schema, so the apiserver, the agent and swsctl refuse the same values.
"""

from __future__ import annotations

import ipaddress
import socket


def own_domain_problem(domain: str) -> str | None:
    """Why `domain` names the host itself rather than a service, or None.

    Subdomains of `localhost` (hello.sws.localhost) stay: the quick start routes them, and
    they reach this host only from this host's own clients.
    """
    if domain == "localhost":
        return "must not be localhost: that is the host itself"
    # A last label of digits only makes a resolver read the name as an IPv4 address
    # (RFC 3696 2): 10.0.0.1, but also 127.1 and 2130706433.
    if domain.rpartition(".")[2].isdigit():
        return "must be a hostname, not an IP address: the host's own are not a service's"
    return None


def registry_host(image: str) -> str | None:
    """The registry host of an image reference (without its port), or None for Docker Hub."""
    first, slash, _ = image.partition("/")
    if not slash or not ("." in first or ":" in first or first == "localhost"):
        return None  # Docker reads the first component as a registry only if it looks like one
    host, colon, port = first.rpartition(":")
    return host if colon and port.isdigit() else first


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:  # the forms a resolver also reads as IPv4: 127.1, 0x7f.1, 2130706433
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def host_registry_problem(image: str) -> str | None:
    """Why `image` would make the Docker daemon pull from the host itself, or None.

    Loopback, link-local (the cloud's metadata address among them) and unspecified addresses
    and `localhost` are refused; a registry on a private network (10.0.0.5:5000) is the
    operator's business and stays allowed.
    """
    host = registry_host(image)
    if host is None:
        return None
    host = host.lower()
    if host == "localhost" or host.endswith(".localhost"):
        return f"must not come from a registry on the host itself ({host})"
    address = _ip(host)
    if address is not None and (
        address.is_loopback or address.is_link_local or address.is_unspecified
    ):
        return f"must not come from a registry on the host itself ({host})"
    return None
