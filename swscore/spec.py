"""The v1 service definition: the one schema that both the apiserver and swsctl validate with.

Every value here ends up in a container name, a volume name, an nginx server block or an
Ansible variable, so each field is checked for what it will become, not only for its type.
This module imports no Flask and no database code: the CLI uses it on a laptop.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validates,
    validates_schema,
)

API_VERSION = "v1"

# Patterns end in \Z, not $: Python's $ also matches before a trailing newline.
# A DNS label: it names the container, the volume (<name>-volume) and the route file.
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
# RFC 1123 hostname label, lowercase only: the domain is written into nginx server_name.
DOMAIN_LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
PATH_SEGMENT_RE = re.compile(r"^[A-Za-z0-9._@+-]+\Z")

# Docker's reference grammar (distribution/reference), written out so a bad image is a 400
# here rather than a failed pull minutes later.
_IMAGE_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IMAGE_DOMAIN = rf"(?:{_IMAGE_DOMAIN_COMPONENT}(?:\.{_IMAGE_DOMAIN_COMPONENT})*(?::[0-9]+)?)"
_IMAGE_PATH_COMPONENT = r"(?:[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*)"
_IMAGE_NAME = rf"(?:{_IMAGE_DOMAIN}/)?{_IMAGE_PATH_COMPONENT}(?:/{_IMAGE_PATH_COMPONENT})*"
_IMAGE_TAG = r"[\w][\w.-]{0,127}"
_IMAGE_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_RE = re.compile(rf"^(?P<name>{_IMAGE_NAME})(?::{_IMAGE_TAG})?(?:@{_IMAGE_DIGEST})?\Z")

# What every output shows instead of an env value, unless secrets are asked for.
ENV_MASK = "********"

MAX_ENV = 200
MAX_ENV_VALUE = 32 * 1024

# spec.http: sizes as bytes or with a k/m/g suffix, durations as seconds or with s/m/h. They
# become nginx directives, so only these shapes pass (the rendered text is always a number).
SIZE_RE = re.compile(r"^([0-9]{1,12})([kKmMgG]?)\Z")
DURATION_RE = re.compile(r"^([0-9]{1,6})([smh]?)\Z")
SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}
MAX_BODY_SIZE = 16 * 1024**3  # 16 GiB: past this an upload wants another channel
MAX_TIMEOUT = 24 * 3600
# resources.memory: bytes, or a number with a Kubernetes-style unit (k M G decimal, Ki Mi Gi
# binary). Docker refuses a limit under 6 MB; the floor leaves room for a process to start.
MEMORY_RE = re.compile(r"^([0-9]{1,15})(k|M|G|Ki|Mi|Gi)?\Z")
MEMORY_UNITS = {None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
MIN_MEMORY = 8 * 2**20
# resources.cpus: a number of CPUs with at most 3 decimals (Docker's --cpus), at least 0.01.
CPUS_RE = re.compile(r"^[0-9]{1,4}(\.[0-9]{1,3})?\Z")
MIN_CPUS = Decimal("0.01")


class SpecError(ValueError):
    """A definition that does not validate.

    `fields` maps a path such as spec.env[1].bar to a message.
    """

    def __init__(self, fields: dict[str, str]):
        self.fields = fields
        super().__init__("; ".join(f"{path}: {msg}" for path, msg in fields.items()))


def check_name(value: str) -> None:
    if not NAME_RE.match(value):
        raise ValidationError(
            "must be a DNS label: lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters"
        )


def check_domain(value: str) -> None:
    if value != value.lower():
        raise ValidationError("must be lowercase")
    if "://" in value or "/" in value or ":" in value:
        raise ValidationError("must be a bare hostname: no scheme, port or path")
    if "*" in value:
        raise ValidationError("wildcard domains are not supported")
    if len(value) > 253 or not value:
        raise ValidationError("must be a hostname of at most 253 characters")
    if not all(DOMAIN_LABEL_RE.match(label) for label in value.split(".")):
        raise ValidationError(
            "must be a hostname (RFC 1123): labels of lowercase letters, digits and '-', "
            "separated by dots"
        )


def check_image(value: str) -> None:
    match = IMAGE_RE.match(value)
    # Docker reads the first component as a registry only if it looks like a host;
    # otherwise it is a repository path component and must be lowercase.
    first = match.group("name").split("/")[0] if match and "/" in match.group("name") else ""
    registry_like = "." in first or ":" in first or first == "localhost"
    if (
        not match
        or len(match.group("name")) > 255
        or (first and not registry_like and first != first.lower())
    ):
        raise ValidationError(
            "must be a Docker image reference such as registry.example.com/team/app:1.2 "
            "or app@sha256:<digest>"
        )


def check_volume_mount(value: str) -> None:
    if not value.startswith("/"):
        raise ValidationError("must be an absolute path")
    segments = [s for s in value.split("/") if s]
    if not segments:
        raise ValidationError("must not be '/'")
    if any(s in (".", "..") for s in segments):
        raise ValidationError("must not contain '.' or '..' segments")
    if len(value) > 1024 or not all(PATH_SEGMENT_RE.match(s) for s in segments):
        raise ValidationError("must be a path of letters, digits and . _ @ + - separated by '/'")


def memory_bytes(value: str) -> int:
    """'256Mi' -> 268435456; ValueError for anything else (the apiserver's caps use it too)."""
    match = MEMORY_RE.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(
            "must be a memory size such as 268435456, 512M, 256Mi or 1Gi "
            "(units k, M, G, Ki, Mi, Gi)"
        )
    return int(match.group(1)) * MEMORY_UNITS[match.group(2)]


def cpus_decimal(value) -> Decimal:
    """'0.5' or 0.5 -> Decimal('0.5'); ValueError for anything else."""
    text = str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not CPUS_RE.match(text):
        raise ValueError('must be a number of CPUs such as 0.5 or "2" (at most 3 decimals)')
    return Decimal(text)


class MemorySize(fields.Field):
    """A memory size kept as the user wrote it (so the digest is stable), checked for shape."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            size = memory_bytes(value)
        except ValueError as err:
            raise ValidationError(str(err)) from None
        if size < MIN_MEMORY:
            raise ValidationError("must be at least 8Mi")
        return value

    def _serialize(self, value, attr, obj, **kwargs):
        return value


class CpuCount(fields.Field):
    """A CPU count as a string in its shortest form ('0.50' and 0.5 are both '0.5')."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            cpus = cpus_decimal(value)
        except (ValueError, InvalidOperation) as err:
            raise ValidationError(str(err)) from None
        if cpus < MIN_CPUS:
            raise ValidationError("must be at least 0.01")
        text = format(cpus.normalize(), "f")
        return text

    def _serialize(self, value, attr, obj, **kwargs):
        return value


class WrittenInt(int):
    """A JSON number that remembers how it was written (what the process must see)."""

    def __new__(cls, text: str):
        number = super().__new__(cls, text)
        number.written = text
        return number


class WrittenFloat(float):
    """A JSON number that remembers how it was written: 1e3 stays "1e3", not "1000.0"."""

    def __new__(cls, text: str):
        number = super().__new__(cls, text)
        number.written = text
        return number


def loads_json(text: str | bytes):
    """Parse a JSON document keeping each number's text, so an env value sent as the number
    1.50 reaches the container as "1.50" (a port still reads as a whole number)."""
    return json.loads(text, parse_int=WrittenInt, parse_float=WrittenFloat)


class EnvValue(fields.Field):
    """A scalar kept as a string, the way Docker hands it to the process: a number or a
    boolean becomes the text it was written as (see loads_json; YAML's are swsctl's job)."""

    default_error_messages = {"scalar": "must be a string, number or boolean"}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return getattr(value, "written", str(value))
        if not isinstance(value, str):
            raise self.make_error("scalar")
        if "\x00" in value:
            raise ValidationError("must not contain a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate from JSON's \ud800 escapes
            raise ValidationError("must be valid Unicode text") from None
        if len(value) > MAX_ENV_VALUE:
            raise ValidationError(f"must be at most {MAX_ENV_VALUE} characters")
        return value

    def _serialize(self, value, attr, obj, **kwargs):
        return value


class StrictString(fields.String):
    """A string that refuses control characters (newlines in a domain would break a config)."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValidationError("must not contain control characters such as newlines")
        return value


def size_in_bytes(value: int | str) -> int:
    """A size as spec.http writes it (1048576, "512k", "100m", "1g") in bytes."""
    if isinstance(value, int):
        return value
    number, unit = SIZE_RE.match(value).groups()
    return int(number) * SIZE_UNITS[unit.lower()]


def duration_in_seconds(value: int | str) -> int:
    """A duration as spec.http writes it (300, "300s", "5m", "1h") in seconds."""
    if isinstance(value, int):
        return value
    number, unit = DURATION_RE.match(value).groups()
    return int(number) * DURATION_UNITS[unit]


class Measure(fields.Field):
    """A whole number, or a string of digits with a unit: kept as written, checked by the
    pattern and by the range of what it reads as (bytes, seconds)."""

    def __init__(self, pattern, read, low: int, high: int, shape: str, bounds: str, **kwargs):
        super().__init__(**kwargs)
        self.pattern, self.read, self.low, self.high = pattern, read, low, high
        self.shape, self.bounds = shape, bounds

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValidationError(self.shape)
        if isinstance(value, str) and not self.pattern.match(value):
            raise ValidationError(self.shape)
        if not self.low <= self.read(value) <= self.high:
            raise ValidationError(self.bounds)
        return value


def Size() -> Measure:  # noqa: N802 - reads as a field class in the schema
    """Bytes as a whole number, or a string with k, m or g (nginx's units, powers of 1024)."""
    return Measure(
        SIZE_RE,
        size_in_bytes,
        1024,
        MAX_BODY_SIZE,
        "must be a size: bytes, or a number with k, m or g (100m)",
        "must be from 1k to 16g",
    )


def Duration() -> Measure:  # noqa: N802 - reads as a field class in the schema
    """Seconds as a whole number, or a string with s, m or h."""
    return Measure(
        DURATION_RE,
        duration_in_seconds,
        1,
        MAX_TIMEOUT,
        "must be a duration: seconds, or a number with s, m or h (5m)",
        "must be from 1 second to 24 hours",
    )


class StrictBoolean(fields.Field):
    """true or false only: not 1, "false" or "yes" (the string "false" is truthy in Python)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("must be true or false (not a string or a number)")
        return value


class HttpSchema(Schema):
    """How the proxies pass HTTP to the service (spec.http; every key optional)."""

    class Meta:
        unknown = RAISE

    maxBodySize = Size()
    readTimeout = Duration()
    buffering = StrictBoolean()
    upgradeTimeout = Duration()


# spec.healthCheck.path: an HTTP path the agent GETs on the container (before the switch and
# after it); it reaches an HTTP request line and an Ansible variable, so inert characters only.
HEALTH_PATH_RE = re.compile(r"^/[A-Za-z0-9._~/@+=,;%-]{0,254}(\?[A-Za-z0-9._~/@+=,;%&-]{0,255})?\Z")


def check_health_path(value: str) -> None:
    if not HEALTH_PATH_RE.match(value):
        raise ValidationError(
            "must be a path such as /healthz: '/' then at most 254 letters, digits or"
            " . _ ~ / @ + = , ; % -, optionally a ?query of the same and &"
        )


class HealthCheckSchema(Schema):
    """spec.healthCheck: a 2xx or 3xx answer to GET <path> means the container is healthy."""

    class Meta:
        unknown = RAISE

    path = StrictString(required=True, validate=check_health_path)


# --- spec.tls (issue 15): HTTPS on the service's domain. Kept in one block of its own. ---
# Where the certificate comes from: "acme" asks the host's ACME CA (HTTP-01), "uploaded" is the
# one given with `swsctl cert set`, "none" serves no HTTPS. Absent: the host's default.
TLS_CERTIFICATE_SOURCES = ("acme", "uploaded", "none")
# HSTS max-age: seconds, or a number with s, m, h or d; 0 (tells browsers to forget it) to
# 2 years, the longest that HSTS preload lists ask for.
HSTS_RE = re.compile(r"^([0-9]{1,9})([smhd]?)\Z")
HSTS_UNITS = {**DURATION_UNITS, "d": 86400}
MAX_HSTS = 2 * 365 * 86400


def hsts_seconds(value: int | str) -> int:
    """An HSTS max-age as spec.tls writes it (31536000, "365d") in seconds."""
    if isinstance(value, int):
        return value
    number, unit = HSTS_RE.match(value).groups()
    return int(number) * HSTS_UNITS[unit]


class CertificateSource(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        if value not in TLS_CERTIFICATE_SOURCES:
            raise ValidationError(f"must be one of {', '.join(TLS_CERTIFICATE_SOURCES)}")
        return value


class TlsSchema(Schema):
    """HTTPS for the service's domain (spec.tls; every key optional)."""

    class Meta:
        unknown = RAISE

    certificate = CertificateSource()
    redirect = StrictBoolean()
    hsts = Measure(
        HSTS_RE,
        hsts_seconds,
        0,
        MAX_HSTS,
        "must be a duration: seconds, or a number with s, m, h or d (365d)",
        "must be from 0 to 730d",
    )


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


# --- end of spec.tls ---


class EnvVarSchema(Schema):
    class Meta:
        unknown = RAISE

    name = StrictString(required=True)
    value = EnvValue(required=True)

    @validates("name")
    def _name(self, value, **kwargs):
        if not ENV_NAME_RE.match(value):
            raise ValidationError("must match [A-Za-z_][A-Za-z0-9_]*")


class ResourcesSchema(Schema):
    """Optional limits for one service, each at most the operator's cap (checked by the API)."""

    class Meta:
        unknown = RAISE

    memory = MemorySize()
    cpus = CpuCount()


class ServiceSpecSchema(Schema):
    class Meta:
        unknown = RAISE

    name = StrictString(required=True, validate=check_name)
    port = fields.Integer(required=True, strict=True)
    domain = StrictString(required=True, validate=check_domain)
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

    @property
    def memory_bytes(self) -> int | None:
        return memory_bytes(self.memory) if self.memory else None

    def as_dict(self) -> dict:
        return {k: v for k, v in (("memory", self.memory), ("cpus", self.cpus)) if v}


@dataclass(frozen=True)
class Definition:
    """A validated service definition, normalised (env values as strings, empty env as [])."""

    name: str
    port: int
    domain: str
    image: str
    volume_mount: str | None = None
    env: tuple[EnvVar, ...] = field(default_factory=tuple)
    http: HttpSettings | None = None
    resources: Resources | None = None  # None when the spec sets none (digest unchanged)
    health_path: str | None = None  # spec.healthCheck.path; None: a TCP connect is the check
    tls: TlsSettings | None = None  # None when the spec sets none (digest unchanged)
    init: bool | None = None  # spec.init as written; None when absent (digest unchanged)

    @classmethod
    def from_loaded(cls, data: dict) -> Definition:
        spec = data["spec"]
        return cls(
            name=spec["name"],
            port=spec["port"],
            domain=spec["domain"],
            image=spec["image"],
            volume_mount=spec.get("volumeMount"),
            env=tuple(EnvVar(e["name"], e["value"]) for e in spec.get("env") or ()),
            http=HttpSettings.from_loaded(spec.get("http")),
            resources=_resources(spec.get("resources")),
            health_path=(spec.get("healthCheck") or {}).get("path"),
            tls=TlsSettings.from_loaded(spec.get("tls")),
            init=spec.get("init"),
        )

    def spec_dict(self) -> dict:
        """The spec as the API stores and returns it (the seed's field names)."""
        spec: dict = {
            "name": self.name,
            "port": self.port,
            "domain": self.domain,
            "image": self.image,
        }
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
        return spec

    def document(self) -> dict:
        return {"apiVersion": API_VERSION, "spec": self.spec_dict()}

    def digest(self) -> str:
        """A stable hash of the spec: equal specs, equal digests (used to skip no-op applies)."""
        canonical = json.dumps(self.spec_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def _resources(data: dict | None) -> Resources | None:
    resources = Resources(memory=(data or {}).get("memory"), cpus=(data or {}).get("cpus"))
    return resources if resources.as_dict() else None


def flatten_errors(messages, prefix: str = "") -> dict[str, str]:
    """Turn marshmallow's nested messages into {'spec.env[1].bar': 'unknown field'}."""
    flat: dict[str, str] = {}
    if isinstance(messages, list):
        flat[prefix or "(document)"] = "; ".join(_humanise(m) for m in messages)
        return flat
    if isinstance(messages, str):
        flat[prefix or "(document)"] = _humanise(messages)
        return flat
    for key, value in messages.items():
        if isinstance(key, int):
            path = f"{prefix}[{key}]"
        elif key == "_schema":
            path = prefix
        else:
            path = f"{prefix}.{key}" if prefix else str(key)
        flat.update(flatten_errors(value, path))
    return flat


_MESSAGES = {
    "Unknown field.": "unknown field",
    "Missing data for required field.": "required field is missing",
    "Not a valid integer.": "must be a whole number",
    "Not a valid string.": "must be a string",
    "Not a valid list.": "must be a list",
    "Invalid input type.": "must be a mapping",
    "Field may not be null.": "must not be null",
}


def _humanise(message) -> str:
    if isinstance(message, dict):  # nested errors in a list position
        return json.dumps(message)
    return _MESSAGES.get(message, message)


def load_definition(document) -> Definition:
    """Validate a parsed YAML/JSON document; raise SpecError naming every bad field."""
    if not isinstance(document, dict):
        raise SpecError({"(document)": "must be a mapping with apiVersion and spec"})
    try:
        return DefinitionSchema().load(document)
    except ValidationError as err:
        raise SpecError(flatten_errors(err.messages)) from None
