"""The v1 service definition: the one schema that both the apiserver and swsctl validate with.

Every value here ends up in a container name, a volume name, an nginx server block or an
Ansible variable, so each field is checked for what it will become, not only for its type
(specfields.py); the nested sections are specsections.py's. This module is the entry point
the apiserver, the agent and swsctl import every name from. It imports no Flask and no database
code: the CLI uses it on a laptop.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validates,
    validates_schema,
)

from swscore.specbackup import BackupSchema, BackupSettings, check_backup_volume
from swscore.specerrors import flatten_errors
from swscore.specfields import (
    CPUS_RE,
    DOMAIN_LABEL_RE,
    DURATION_RE,
    DURATION_UNITS,
    ENV_NAME_RE,
    HEALTH_PATH_RE,
    HSTS_RE,
    HSTS_UNITS,
    IMAGE_RE,
    MAX_BODY_SIZE,
    MAX_ENV,
    MAX_ENV_VALUE,
    MAX_HSTS,
    MAX_TIMEOUT,
    MEMORY_RE,
    MEMORY_UNITS,
    MIN_CPUS,
    MIN_DISK,
    MIN_MEMORY,
    NAME_RE,
    PATH_SEGMENT_RE,
    SIZE_RE,
    SIZE_UNITS,
    STACK_RE,
    TLS_CERTIFICATE_SOURCES,
    UPDATE_STRATEGIES,
    CertificateSource,
    CpuCount,
    DiskSize,
    Duration,
    EnvValue,
    Hsts,
    Measure,
    MemorySize,
    Size,
    StrictBoolean,
    StrictString,
    WrittenFloat,
    WrittenInt,
    check_domain,
    check_health_path,
    check_image,
    check_name,
    check_stack,
    check_update,
    check_volume_mount,
    cpus_decimal,
    duration_in_seconds,
    hsts_seconds,
    loads_json,
    memory_bytes,
    size_in_bytes,
)
from swscore.specjobs import JobList, JobSettings, check_jobs_volume
from swscore.specreplicas import MAX_REPLICAS, ReplicaCount, check_replicas_volume
from swscore.specsections import (
    EnvVar,
    EnvVarSchema,
    HealthCheckSchema,
    HttpSchema,
    HttpSettings,
    Resources,
    ResourcesSchema,
    TlsSchema,
    TlsSettings,
)
from swscore.specsite import (
    MAX_ALIASES,
    MAX_REDIRECTS,
    AccessSchema,
    DomainList,
    PagesSchema,
    SiteSettings,
    check_site_names,
)

# What moved to specfields and specsections is re-exported: swscore.spec stays the one import
# path, so a caller never needs to know which of the three modules defines a name.
# fmt: off
__all__ = [
    "API_VERSION", "ENV_MASK", "SpecError", "ServiceSpecSchema", "DefinitionSchema", "Definition",
    "flatten_errors", "load_definition",
    # specfields
    "CPUS_RE", "DOMAIN_LABEL_RE", "DURATION_RE", "DURATION_UNITS", "ENV_NAME_RE", "HEALTH_PATH_RE",
    "HSTS_RE", "HSTS_UNITS", "IMAGE_RE", "MAX_BODY_SIZE", "MAX_ENV", "MAX_ENV_VALUE", "MAX_HSTS",
    "MAX_TIMEOUT", "MEMORY_RE", "MEMORY_UNITS", "MIN_CPUS", "MIN_DISK", "MIN_MEMORY", "NAME_RE",
    "PATH_SEGMENT_RE", "SIZE_RE", "SIZE_UNITS", "STACK_RE", "TLS_CERTIFICATE_SOURCES",
    "UPDATE_STRATEGIES", "CertificateSource", "CpuCount", "DiskSize", "Duration", "EnvValue",
    "Hsts", "Measure", "MemorySize", "Size", "StrictBoolean", "StrictString", "WrittenFloat",
    "WrittenInt", "check_domain", "check_health_path", "check_image", "check_name", "check_stack",
    "check_update", "check_volume_mount", "cpus_decimal", "duration_in_seconds", "hsts_seconds",
    "loads_json", "memory_bytes", "size_in_bytes",
    # specsections
    "EnvVar", "EnvVarSchema", "HealthCheckSchema", "HttpSchema", "HttpSettings", "Resources",
    "ResourcesSchema", "TlsSchema", "TlsSettings",
    # specsite
    "SiteSettings",
    # specjobs
    "JobSettings",
    # specbackup
    "BackupSettings",
    # specreplicas
    "MAX_REPLICAS",
]
# fmt: on

API_VERSION = "v1"

# What every output shows instead of an env value, unless secrets are asked for.
ENV_MASK = "********"


class SpecError(ValueError):
    """A definition that does not validate.

    `fields` maps a path such as spec.env[1].bar to a message.
    """

    def __init__(self, fields: dict[str, str]):
        self.fields = fields
        super().__init__("; ".join(f"{path}: {msg}" for path, msg in fields.items()))


class ServiceSpecSchema(Schema):
    class Meta:
        unknown = RAISE

    name = StrictString(required=True, validate=check_name)
    port = fields.Integer(required=True, strict=True)
    # Optional: a service without a domain is private, reachable only from its stack.
    domain = StrictString(validate=check_domain, allow_none=True)
    image = StrictString(required=True, validate=check_image)
    volumeMount = StrictString(validate=check_volume_mount, allow_none=True)
    env = fields.List(fields.Nested(EnvVarSchema), allow_none=True)
    http = fields.Nested(HttpSchema, allow_none=True)
    resources = fields.Nested(ResourcesSchema, allow_none=True)
    healthCheck = fields.Nested(HealthCheckSchema, allow_none=True)
    tls = fields.Nested(TlsSchema, allow_none=True)
    # Docker's init (tini) as PID 1: it passes signals on, so a server that ignores SIGTERM
    # (a Python or Node server started directly) stops at once instead of after the stop
    # timeout. Opt-in: an image whose own init must be PID 1 (s6-overlay) refuses another.
    init = StrictBoolean(allow_none=True)
    # The user's application this service belongs to: services of one owner with the same
    # stack share a private network and reach each other by name.
    stack = StrictString(validate=check_stack, allow_none=True)
    # How a new generation replaces the old one: rolling (start the new one beside the old,
    # then switch: no gap) or recreate (stop the old one first: never two containers on one
    # volume). Absent: recreate when the service has a volumeMount, else rolling.
    update = StrictString(validate=check_update, allow_none=True)
    # Issue 27 (specsite.py): more domains, redirected domains, who may reach it, its pages.
    aliases = DomainList(MAX_ALIASES)
    redirects = DomainList(MAX_REDIRECTS)
    access = fields.Nested(AccessSchema, allow_none=True)
    pages = fields.Nested(PagesSchema, allow_none=True)
    # Issue 26 (specjobs.py): commands run on a schedule beside the service.
    jobs = JobList()
    # Issue 27 (specbackup.py): copies of the volume taken on a schedule.
    backup = fields.Nested(BackupSchema, allow_none=True)
    # Issue 28: containers of each generation serving side by side (default 1), at most the
    # operator's SWS_MAX_REPLICAS (the apiserver checks it); one with a volumeMount.
    replicas = ReplicaCount(allow_none=True)

    @validates_schema(skip_on_field_errors=True)
    def _private(self, data, **kwargs):
        tls = data.get("tls") or {}
        if not data.get("domain") and tls.get("certificate") not in (None, "none"):
            raise ValidationError("a service without a domain has no certificate", "tls")
        check_site_names(data)
        check_jobs_volume(data)
        check_backup_volume(data)
        check_replicas_volume(data)
        resources = data.get("resources") or {}
        if resources.get("disk") and not data.get("volumeMount"):
            raise ValidationError(
                {"disk": ["sizes the service's volume: it needs a volumeMount"]}, "resources"
            )

    @validates("port")
    def _port(self, value, **kwargs):
        if isinstance(value, bool) or not 1 <= value <= 65535:
            raise ValidationError("must be a whole number from 1 to 65535")

    @validates("env")
    def _env(self, value, **kwargs):
        if value is None:
            return
        if len(value) > MAX_ENV:
            raise ValidationError(f"must have at most {MAX_ENV} variables")
        seen: set[str] = set()
        for item in value:
            if "name" not in item:  # already reported by EnvVarSchema
                continue
            if item["name"] in seen:
                raise ValidationError(f"variable {item['name']} is set twice")
            seen.add(item["name"])


class DefinitionSchema(Schema):
    class Meta:
        unknown = RAISE

    apiVersion = StrictString(required=True)
    spec = fields.Nested(ServiceSpecSchema, required=True)

    @validates_schema(skip_on_field_errors=False)
    def _version(self, data, **kwargs):
        version = data.get("apiVersion")
        if version is not None and version != API_VERSION:
            raise ValidationError(
                f"unsupported version {version!r}; this server speaks {API_VERSION!r}",
                "apiVersion",
            )

    @post_load
    def _make(self, data, **kwargs):
        return Definition.from_loaded(data)


@dataclass(frozen=True)
class Definition:
    """A validated service definition, normalised (env values as strings, empty env as [])."""

    name: str
    port: int
    domain: str | None
    image: str
    volume_mount: str | None = None
    env: tuple[EnvVar, ...] = field(default_factory=tuple)
    http: HttpSettings | None = None
    resources: Resources | None = None  # None when the spec sets none (digest unchanged)
    health_path: str | None = None  # spec.healthCheck.path; None: a TCP connect is the check
    tls: TlsSettings | None = None  # None when the spec sets none (digest unchanged)
    init: bool | None = None  # spec.init as written; None when absent (digest unchanged)
    stack: str | None = None  # spec.stack; None: the service reaches no other service
    update: str | None = None  # spec.update as written; see update_strategy
    site: SiteSettings | None = None  # aliases, redirects, access, pages; None: none set
    jobs: tuple[JobSettings, ...] | None = None  # spec.jobs; None when absent (digest unchanged)
    backup: BackupSettings | None = None  # spec.backup; None when absent (digest unchanged)
    replicas: int | None = None  # spec.replicas as written; None when absent (digest unchanged)

    @property
    def update_strategy(self) -> str:
        """rolling or recreate: as written, else recreate for a service with a volume."""
        return self.update or ("recreate" if self.volume_mount else "rolling")

    @property
    def replica_count(self) -> int:
        """How many containers of each generation serve: as written, else 1."""
        return self.replicas or 1

    @classmethod
    def from_loaded(cls, data: dict) -> Definition:
        spec = data["spec"]
        return cls(
            name=spec["name"],
            port=spec["port"],
            domain=spec.get("domain"),
            image=spec["image"],
            volume_mount=spec.get("volumeMount"),
            env=tuple(EnvVar(e["name"], e["value"]) for e in spec.get("env") or ()),
            http=HttpSettings.from_loaded(spec.get("http")),
            resources=Resources.from_loaded(spec.get("resources")),
            health_path=(spec.get("healthCheck") or {}).get("path"),
            tls=TlsSettings.from_loaded(spec.get("tls")),
            init=spec.get("init"),
            stack=spec.get("stack"),
            update=spec.get("update"),
            site=SiteSettings.from_loaded(spec),
            jobs=(
                tuple(JobSettings.from_loaded(job) for job in spec["jobs"])
                if spec.get("jobs") is not None
                else None
            ),
            backup=BackupSettings.from_loaded(spec.get("backup")),
            replicas=spec.get("replicas"),
        )

    def spec_dict(self) -> dict:
        """The spec as the API stores and returns it (the seed's field names)."""
        spec: dict = {"name": self.name, "port": self.port}
        if self.domain:
            # Always set before domain became optional: older specs keep their digests.
            spec["domain"] = self.domain
        spec["image"] = self.image
        if self.volume_mount:
            spec["volumeMount"] = self.volume_mount
        spec["env"] = [{"name": e.name, "value": e.value} for e in self.env]
        # Only when given: a spec without it keeps the digest it had before the field existed.
        if self.http and self.http.as_dict():
            spec["http"] = self.http.as_dict()
        if self.resources is not None:
            # Only when set: a spec without resources keeps the digest it had before them.
            spec["resources"] = self.resources.as_dict()
        if self.health_path:
            # Only when set, like http and resources: older specs keep their digests.
            spec["healthCheck"] = {"path": self.health_path}
        if self.tls and self.tls.as_dict():
            # Only when given, like http: older specs keep their digests.
            spec["tls"] = self.tls.as_dict()
        if self.init is not None:
            # As written (false too), only when given: older specs keep their digests.
            spec["init"] = self.init
        # Only when given, like init: older specs keep their digests.
        if self.stack:
            spec["stack"] = self.stack
        if self.update:
            spec["update"] = self.update
        if self.site:
            spec.update(self.site.spec_items())
        if self.jobs is not None:
            # Only when given (an empty list too): older specs keep their digests.
            spec["jobs"] = [job.as_dict() for job in self.jobs]
        if self.backup is not None:
            spec["backup"] = self.backup.as_dict()  # only when given, like jobs
        if self.replicas is not None:
            # As written (1 too), only when given: older specs keep their digests.
            spec["replicas"] = self.replicas
        return spec

    @property
    def names(self) -> tuple[str, ...]:
        """Every domain the service answers on: its domain, aliases and redirects."""
        site = self.site or SiteSettings()
        return (*((self.domain,) if self.domain else ()), *site.aliases, *site.redirects)

    def document(self) -> dict:
        return {"apiVersion": API_VERSION, "spec": self.spec_dict()}

    def digest(self) -> str:
        """A stable hash of the spec: equal specs, equal digests (used to skip no-op applies)."""
        canonical = json.dumps(self.spec_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def load_definition(document) -> Definition:
    """Validate a parsed YAML/JSON document; raise SpecError naming every bad field."""
    if not isinstance(document, dict):
        raise SpecError({"(document)": "must be a mapping with apiVersion and spec"})
    try:
        return DefinitionSchema().load(document)
    except ValidationError as err:
        raise SpecError(flatten_errors(err.messages)) from None
