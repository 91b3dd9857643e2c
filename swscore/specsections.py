"""The nested sections of a v1 spec (env, http, healthCheck, resources, tls): the schema each
is validated with, and the frozen settings a Definition keeps of it, shown back as written."""

from __future__ import annotations

from dataclasses import dataclass

from marshmallow import RAISE, Schema, ValidationError, validates

from swscore.specfields import (
    ENV_NAME_RE,
    CertificateSource,
    CpuCount,
    DiskSize,
    Duration,
    EnvValue,
    Hsts,
    MemorySize,
    Size,
    StrictBoolean,
    StrictString,
    check_health_path,
    duration_in_seconds,
    hsts_seconds,
    memory_bytes,
    size_in_bytes,
)


class EnvVarSchema(Schema):
    class Meta:
        unknown = RAISE

    name = StrictString(required=True)
    value = EnvValue(required=True)

    @validates("name")
    def _name(self, value, **kwargs):
        if not ENV_NAME_RE.match(value):
            raise ValidationError("must match [A-Za-z_][A-Za-z0-9_]*")


class HttpSchema(Schema):
    """How the proxies pass HTTP to the service (spec.http; every key optional)."""

    class Meta:
        unknown = RAISE

    maxBodySize = Size()
    readTimeout = Duration()
    buffering = StrictBoolean()
    upgradeTimeout = Duration()


class HealthCheckSchema(Schema):
    """spec.healthCheck: a 2xx or 3xx answer to GET <path> means the container is healthy."""

    class Meta:
        unknown = RAISE

    path = StrictString(required=True, validate=check_health_path)


class ResourcesSchema(Schema):
    """Optional limits for one service, each at most the operator's cap (checked by the API)."""

    class Meta:
        unknown = RAISE

    memory = MemorySize()
    cpus = CpuCount()
    # The size of the service's volume (its own filesystem); needs a volumeMount (spec.py).
    disk = DiskSize()


class TlsSchema(Schema):
    """HTTPS for the service's domain (spec.tls; every key optional)."""

    class Meta:
        unknown = RAISE

    certificate = CertificateSource()
    redirect = StrictBoolean()
    hsts = Hsts()


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str


@dataclass(frozen=True)
class HttpSettings:
    """spec.http as written (shown back as written); the proxies read the numbers."""

    max_body_size: int | str | None = None
    read_timeout: int | str | None = None
    buffering: bool | None = None
    upgrade_timeout: int | str | None = None

    KEYS = (
        ("maxBodySize", "max_body_size"),
        ("readTimeout", "read_timeout"),
        ("buffering", "buffering"),
        ("upgradeTimeout", "upgrade_timeout"),
    )

    @classmethod
    def from_loaded(cls, http: dict | None) -> HttpSettings | None:
        if not http:
            return None
        return cls(**{attr: http[key] for key, attr in cls.KEYS if key in http})

    def as_dict(self) -> dict:
        return {key: getattr(self, a) for key, a in self.KEYS if getattr(self, a) is not None}

    @property
    def body_bytes(self) -> int | None:
        return None if self.max_body_size is None else size_in_bytes(self.max_body_size)

    @property
    def read_seconds(self) -> int | None:
        return None if self.read_timeout is None else duration_in_seconds(self.read_timeout)

    @property
    def upgrade_seconds(self) -> int | None:
        return None if self.upgrade_timeout is None else duration_in_seconds(self.upgrade_timeout)


@dataclass(frozen=True)
class Resources:
    """A service's own limits; None: the operator's default applies."""

    memory: str | None = None  # as written, e.g. "256Mi"
    cpus: str | None = None  # normalised, e.g. "0.5"
    disk: str | None = None  # as written, e.g. "1Gi": the volume's size

    KEYS = ("memory", "cpus", "disk")

    @classmethod
    def from_loaded(cls, data: dict | None) -> Resources | None:
        resources = cls(**{key: (data or {}).get(key) for key in cls.KEYS})
        return resources if resources.as_dict() else None

    @property
    def memory_bytes(self) -> int | None:
        return memory_bytes(self.memory) if self.memory else None

    @property
    def disk_bytes(self) -> int | None:
        return memory_bytes(self.disk) if self.disk else None

    def as_dict(self) -> dict:
        # Only the keys given: a spec without disk keeps the digest it had before the field.
        return {key: getattr(self, key) for key in self.KEYS if getattr(self, key)}


@dataclass(frozen=True)
class TlsSettings:
    """spec.tls as written (shown back as written); the proxies read the numbers."""

    certificate: str | None = None
    redirect: bool | None = None
    hsts: int | str | None = None

    KEYS = (("certificate", "certificate"), ("redirect", "redirect"), ("hsts", "hsts"))

    @classmethod
    def from_loaded(cls, tls: dict | None) -> TlsSettings | None:
        if not tls:
            return None
        return cls(**{attr: tls[key] for key, attr in cls.KEYS if key in tls})

    def as_dict(self) -> dict:
        return {key: getattr(self, a) for key, a in self.KEYS if getattr(self, a) is not None}

    @property
    def hsts_seconds(self) -> int | None:
        return None if self.hsts is None else hsts_seconds(self.hsts)
