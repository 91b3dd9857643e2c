"""The apiserver's settings, read from SWS_* environment variables (tests subclass Config)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal

from swscore.dbdeadline import NO_GSSAPI, bounded_connection
from swscore.dburl import with_password
from swscore.registries import parse_allowed
from swscore.spec import MAX_REPLICAS, cpus_decimal, memory_bytes


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


def _float(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
    if not value >= minimum:  # also refuses nan
        raise ConfigError(f"{name} must be at least {minimum}, not {raw}")
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
        return with_password(url, password_file)
    except OSError as err:
        raise ConfigError(
            f"SWS_DATABASE_PASSWORD_FILE: cannot read {password_file}: {err}"
        ) from None


MIN_SECRET_KEY = 32


def secret_key_from_file(path: str) -> str:
    """The key that signs web sessions, made once by the bootstrap (SWS_SECRET_KEY_FILE)."""
    try:
        with open(path) as f:
            key = f.read().strip()
    except OSError as err:
        raise ConfigError(f"SWS_SECRET_KEY_FILE: cannot read {path}: {err}") from None
    if len(key) < MIN_SECRET_KEY:
        raise ConfigError(
            f"SWS_SECRET_KEY_FILE: {path} must hold at least {MIN_SECRET_KEY} characters"
        )
    return key


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw not in ("", "true", "1", "false", "0"):
        raise ConfigError(f"{name} must be true or false, not {raw!r}")
    return raw in ("true", "1")


def _with_psycopg2(url: str) -> str:
    """SQLAlchemy 2.1 reads postgresql:// as psycopg 3; the project ships psycopg2."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url[len(scheme) :]
    return url


def _seal_key(env: Mapping[str, str], name: str):
    raw = env.get(name, "").strip()
    if not raw:
        return None
    from swscore.sealing import SealError, public_key_from_text

    try:
        return public_key_from_text(raw)
    except SealError as err:
        raise ConfigError(f"{name}: {err}") from None


def reserved_domains(env: Mapping[str, str]) -> frozenset[str]:
    """Domains no service may claim (409): SWS_RESERVED_DOMAINS, by default the host's own
    names. `localhost` and IP addresses need no listing: the v1 schema refuses them."""
    raw = env.get("SWS_RESERVED_DOMAINS")
    if raw is None:
        raw = f"{socket.gethostname()},{socket.getfqdn()}"
    return frozenset(d.strip().lower().rstrip(".") for d in raw.split(",") if d.strip())


def streams_per_user(env: Mapping[str, str], total_slots: int) -> int:
    """Log streams one user may hold: SWS_MAX_STREAMS_PER_USER, never more than 3 nor more
    than a quarter of the host's stream slots (workers x half their threads: 2 x 4 = 8 gives
    2), so no three users can hold them all (issue 25: three users at 3 streams each took all
    8 and everyone else got 503). A larger setting is cut to that, not refused, so raising the
    workers or threads later raises the cap with it."""
    fair_share = max(1, min(3, total_slots // 4))
    return min(_int(env, "SWS_MAX_STREAMS_PER_USER", fair_share), fair_share)


class Config:
    """Flask settings built from the environment when the object is made."""

    def __init__(self, environ: Mapping[str, str] | None = None):
        env = os.environ if environ is None else environ
        url = env.get("SWS_DATABASE_URL") or "postgresql://sws@127.0.0.1:5432/sws"
        if env.get("SWS_DATABASE_PASSWORD_FILE"):
            url = with_password_from_file(url, env["SWS_DATABASE_PASSWORD_FILE"])
        self.SQLALCHEMY_DATABASE_URI = _with_psycopg2(url)
        connect_timeout = _int(env, "SWS_DB_CONNECT_TIMEOUT", 2)
        statement_timeout_ms = _int(env, "SWS_DB_STATEMENT_TIMEOUT_MS", 10_000)
        # Each statement, commit and rollback ends within this on the client side, even when
        # the store is paused (its kernel still answers TCP): every endpoint then answers 503
        # within about this, not when gunicorn gives up (dbdeadline.py).
        call_timeout = _int(env, "SWS_DB_CALL_TIMEOUT", 2)
        self.SQLALCHEMY_ENGINE_OPTIONS = {
            # A connection that died with a database restart is replaced, not handed out.
            "pool_pre_ping": True,
            "pool_size": _int(env, "SWS_DB_POOL_SIZE", 5),
            "connect_args": {
                "connect_timeout": connect_timeout,
                "application_name": "sws-apiserver",
                "options": f"-c statement_timeout={statement_timeout_ms}",
                "connection_factory": bounded_connection(call_timeout),
                **NO_GSSAPI,
            },
        }
        self.MAX_CONTENT_LENGTH = _int(env, "SWS_MAX_BODY_BYTES", 64 * 1024)
        self.SWS_RESERVED_DOMAINS = reserved_domains(env)
        # Generations whose spec each service keeps for history and rollback.
        self.SWS_HISTORY_KEPT = _int(env, "SWS_HISTORY_KEPT", 10)
        # Web sign-in: without a key there is no session cookie, only bearer tokens.
        key_file = env.get("SWS_SECRET_KEY_FILE")
        self.SECRET_KEY = secret_key_from_file(key_file) if key_file else None
        self.SESSION_COOKIE_NAME = "sws_session"
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Strict"
        # Secure always; without it the cookie is Secure over HTTPS only (swsapi/edge.py).
        self.SESSION_COOKIE_SECURE = _flag(env, "SWS_COOKIE_SECURE")
        self._edge_settings(env)
        self.PERMANENT_SESSION_LIFETIME = timedelta(hours=_int(env, "SWS_SESSION_HOURS", 8))
        # Fair share: services a user may have (an administrator raises it per user).
        self.SWS_SERVICE_QUOTA = _int(env, "SWS_SERVICE_QUOTA", 20, minimum=0)
        self._caps(env)
        self.SWS_BIND = env.get("SWS_BIND") or "0.0.0.0:8000"
        self.SWS_WORKERS = _int(env, "SWS_WORKERS", 2)
        # gthread workers: a log stream holds a thread, never the whole worker.
        self.SWS_THREADS = _int(env, "SWS_THREADS", 8)
        self._stream_settings(env)
        self._backup_settings(env)
        self.SWS_LOG_LEVEL = (env.get("SWS_LOG_LEVEL") or "info").lower()
        # Issue 15: the host's sealing public key; unset, uploads of certificates are refused.
        self.SWS_CERT_SEAL_KEY = _seal_key(env, "SWS_CERT_SEAL_KEY")
        # Issue 26: the operator's registries (sws_registries_allowed); empty: any registry
        # that is not the host itself. The agent checks the same list at each deploy.
        self.SWS_REGISTRIES_ALLOWED = parse_allowed(env.get("SWS_REGISTRIES_ALLOWED"))

    def _caps(self, env: Mapping[str, str]) -> None:
        """The most a user may ask for: a spec's resources (the bootstrap sets them from
        sws_max_service_memory / _cpus / _disk) and a job run's time (issue 26)."""
        self.SWS_MAX_MEMORY = _memory(env, "SWS_MAX_MEMORY", "1Gi")
        self.SWS_MAX_CPUS = _cpus(env, "SWS_MAX_CPUS", "1")
        # The largest volume a spec's resources.disk may ask for.
        self.SWS_MAX_DISK = _memory(env, "SWS_MAX_DISK", "10Gi")
        # The most replicas a spec may ask for (issue 28); the v1 schema's own ceiling bounds it.
        self.SWS_MAX_REPLICAS = _int(env, "SWS_MAX_REPLICAS", 5, minimum=1)
        if self.SWS_MAX_REPLICAS > MAX_REPLICAS:
            raise ConfigError(f"SWS_MAX_REPLICAS must be at most {MAX_REPLICAS}")
        # A run's time limit when it names none, and the most it may name.
        self.SWS_JOB_TIMEOUT = _int(env, "SWS_JOB_TIMEOUT", 600, minimum=1)
        self.SWS_MAX_JOB_TIMEOUT = _int(env, "SWS_MAX_JOB_TIMEOUT", 3600, minimum=1)
        # Runs of one service not finished yet: a one-off past this many is refused (429).
        self.SWS_MAX_JOB_RUNS = _int(env, "SWS_MAX_JOB_RUNS", 5, minimum=1)

    def _stream_settings(self, env: Mapping[str, str]) -> None:
        """The host's log stream slots: half of every worker's threads, counted across workers
        (swsapi/streamslots.py). One worker may lend streams more than its half, when they
        happen to land there, but never its last quarter: plain requests need those."""
        self.SWS_STREAM_SLOTS = max(1, self.SWS_THREADS // 2)
        self.SWS_STREAM_SLOTS_TOTAL = self.SWS_WORKERS * self.SWS_STREAM_SLOTS
        self.SWS_WORKER_STREAM_THREADS = max(
            self.SWS_STREAM_SLOTS, self.SWS_THREADS - max(1, self.SWS_THREADS // 4)
        )
        self.SWS_MAX_STREAMS_PER_USER = streams_per_user(env, self.SWS_STREAM_SLOTS_TOTAL)
        self.SWS_STREAM_MAX_SECONDS = _int(env, "SWS_STREAM_MAX_SECONDS", 600)
        self.SWS_STREAM_POLL_SECONDS = _float(env, "SWS_STREAM_POLL_SECONDS", 1.0, 0.05)

    def _backup_settings(self, env: Mapping[str, str]) -> None:
        """Backups (issue 27): where the agent keeps them (mounted read-only: the apiserver
        only streams them), where uploads for a restore wait for the agent, the largest upload,
        and what a user's kept backups may take of the host's disk in all."""
        self.SWS_BACKUPS_DIR = env.get("SWS_BACKUPS_DIR") or None
        self.SWS_BACKUP_SPOOL_DIR = env.get("SWS_BACKUP_SPOOL_DIR") or None
        self.SWS_MAX_BACKUP_UPLOAD = _memory(env, "SWS_MAX_BACKUP_UPLOAD", "10Gi")
        self.SWS_BACKUP_QUOTA = _memory(env, "SWS_BACKUP_QUOTA", "20Gi")

    def _edge_settings(self, env: Mapping[str, str]) -> None:
        """What the apiserver does about strangers at the edge (issue 25)."""
        # Token guesses: this many wrong tokens from one address within the window block it
        # for the block's length (per worker: swsapi/guesses.py).
        self.SWS_AUTH_FAILURES = _int(env, "SWS_AUTH_FAILURES", 10)
        self.SWS_AUTH_WINDOW_SECONDS = _int(env, "SWS_AUTH_WINDOW_SECONDS", 60)
        self.SWS_AUTH_BLOCK_SECONDS = _int(env, "SWS_AUTH_BLOCK_SECONDS", 60)
        # Strict-Transport-Security's max-age on answers over HTTPS (0: none).
        self.SWS_HSTS_SECONDS = _int(env, "SWS_HSTS_SECONDS", 365 * 86400, minimum=0)
