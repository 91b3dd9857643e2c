"""The building blocks of the v1 service spec: patterns, limits, validators and field types.

Each value is checked for what it will become (a container name, a volume name, an nginx
directive, an Ansible variable), not only for its type; spec.py assembles the schemas from these.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation

from marshmallow import ValidationError, fields

from swscore.hostnames import host_registry_problem, own_domain_problem

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
# resources.disk: the size of the service's volume, its own filesystem (units as memory's). An
# ext4 filesystem smaller than this keeps too little room beside its journal to be of use.
MIN_DISK = 16 * 2**20
# resources.cpus: a number of CPUs with at most 3 decimals (Docker's --cpus), at least 0.01.
CPUS_RE = re.compile(r"^[0-9]{1,4}(\.[0-9]{1,3})?\Z")
MIN_CPUS = Decimal("0.01")
# spec.healthCheck.path: an HTTP path the agent GETs on the container (before the switch and
# after it); it reaches an HTTP request line and an Ansible variable, so inert characters only.
HEALTH_PATH_RE = re.compile(r"^/[A-Za-z0-9._~/@+=,;%-]{0,254}(\?[A-Za-z0-9._~/@+=,;%&-]{0,255})?\Z")


def check_name(value: str) -> None:
    if not NAME_RE.match(value):
        raise ValidationError(
            "must be a DNS label: lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters"
        )


# A stack's network is named sws-stack-<owner id>-<stack>; Docker's names allow 255 characters
# but a bridge interface's 15 do not matter (SWS names the bridge itself, by the subnet).
STACK_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?\Z")
UPDATE_STRATEGIES = ("rolling", "recreate")


def check_stack(value: str) -> None:
    if not STACK_RE.match(value):
        raise ValidationError(
            "must be a DNS label: lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, at most 32 characters"
        )


def check_update(value: str) -> None:
    if value not in UPDATE_STRATEGIES:
        raise ValidationError(f"must be one of {', '.join(UPDATE_STRATEGIES)}")


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
    problem = own_domain_problem(value)
    if problem:
        raise ValidationError(problem)


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
    problem = host_registry_problem(value)
    if problem:
        raise ValidationError(problem)


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


class DiskSize(fields.Field):
    """A volume size kept as the user wrote it (so the digest is stable), checked for shape."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            size = memory_bytes(value)
        except ValueError as err:
            raise ValidationError(str(err).replace("memory size", "disk size")) from None
        if size < MIN_DISK:
            raise ValidationError("must be at least 16Mi")
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


def check_health_path(value: str) -> None:
    if not HEALTH_PATH_RE.match(value):
        raise ValidationError(
            "must be a path such as /healthz: '/' then at most 254 letters, digits or"
            " . _ ~ / @ + = , ; % -, optionally a ?query of the same and &"
        )


# --- spec.tls (issue 15): HTTPS on the service's domain (TlsSchema, TlsSettings: specsections.py)
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


def Hsts() -> Measure:  # noqa: N802 - reads as a field class in the schema
    """An HSTS max-age: seconds as a whole number, or a string with s, m, h or d."""
    return Measure(
        HSTS_RE,
        hsts_seconds,
        0,
        MAX_HSTS,
        "must be a duration: seconds, or a number with s, m, h or d (365d)",
        "must be from 0 to 730d",
    )


# --- end of spec.tls ---
