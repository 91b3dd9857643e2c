"""The store's URL with its password from a file: the one rule the apiserver's config and the
agent's share (neither imports the other's settings)."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit


def with_password(url: str, password_file: str) -> str:
    """Put the password from a file (the bootstrap's /etc/sws/confdb-password) into the URL.
    Raises OSError when the file cannot be read."""
    with open(password_file) as f:
        password = f.read().strip()
    parts = urlsplit(url)
    user = parts.username or "sws"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}{port}"
    return urlunsplit(parts._replace(netloc=netloc))
