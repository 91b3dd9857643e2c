"""The apiserver's settings, read from SWS_* environment variables (tests subclass Config)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal
from urllib.parse import quote, urlsplit, urlunsplit

from swsapi.spec import cpus_decimal, memory_bytes


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the variable."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    return value


def _memory(env: Mapping[str, str], name: str, default: str) -> int:
    raw = env.get(name, "").strip() or default
    try:
        return memory_bytes(raw)
    except ValueError as err:
        raise ConfigError(f"{name} {err}, not {raw!r}") from None


def _cpus(env: Mapping[str, str], name: str, default: str) -> Decimal:
    raw = env.get(name, "").strip() or default
    try:
        value = cpus_decimal(raw)
    except ValueError as err:
        raise ConfigError(f"{name} {err}, not {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be more than 0, not {raw!r}")
    return value


def with_password_from_file(url: str, password_file: str) -> str:
    """Put the password from a file (the bootstrap's /etc/sws/confdb-password) into the URL."""
    try:
        with open(password_file) as f:
            password = f.read().strip()
    except OSError as err:
        raise ConfigError(
            f"SWS_DATABASE_PASSWORD_FILE: cannot read {password_file}: {err}"
        ) from None
    parts = urlsplit(url)
    user = parts.username or "sws"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _with_psycopg2(url: str) -> str:
    """SQLAlchemy 2.1 reads postgresql:// as psycopg 3; the project ships psycopg2."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url[len(scheme) :]
    return url


class Config:
    """Flask settings built from the environment when the object is made."""

    def __init__(self, environ: Mapping[str, str] | None = None):
        env = os.environ if environ is None else environ
        url = env.get("SWS_DATABASE_URL") or "postgresql://sws@127.0.0.1:5432/sws"
        if env.get("SWS_DATABASE_PASSWORD_FILE"):
            url = with_password_from_file(url, env["SWS_DATABASE_PASSWORD_FILE"])
        self.SQLALCHEMY_DATABASE_URI = _with_psycopg2(url)
        connect_timeout = _int(env, "SWS_DB_CONNECT_TIMEOUT", 3)
        statement_timeout_ms = _int(env, "SWS_DB_STATEMENT_TIMEOUT_MS", 10_000)
        self.SQLALCHEMY_ENGINE_OPTIONS = {
            # A connection that died with a database restart is replaced, not handed out.
            "pool_pre_ping": True,
            "pool_size": _int(env, "SWS_DB_POOL_SIZE", 5),
            "connect_args": {
                "connect_timeout": connect_timeout,
                "application_name": "sws-apiserver",
                "options": f"-c statement_timeout={statement_timeout_ms}",
            },
        }
        self.MAX_CONTENT_LENGTH = _int(env, "SWS_MAX_BODY_BYTES", 64 * 1024)
        self.SWS_RESERVED_DOMAINS = frozenset(
            d.strip().lower().rstrip(".")
            for d in env.get("SWS_RESERVED_DOMAINS", "").split(",")
            if d.strip()
        )
        # Fair share: services a user may have (an administrator raises it per user).
        self.SWS_SERVICE_QUOTA = _int(env, "SWS_SERVICE_QUOTA", 20, minimum=0)
        # The most a spec's resources may ask for (the operator's caps; the bootstrap sets
        # them from sws_service_max_memory / sws_service_max_cpus).
        self.SWS_MAX_MEMORY = _memory(env, "SWS_MAX_MEMORY", "1Gi")
        self.SWS_MAX_CPUS = _cpus(env, "SWS_MAX_CPUS", "1")
        self.SWS_BIND = env.get("SWS_BIND") or "0.0.0.0:8000"
        self.SWS_WORKERS = _int(env, "SWS_WORKERS", 2)
        self.SWS_LOG_LEVEL = (env.get("SWS_LOG_LEVEL") or "info").lower()
