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

MAX_ENV = 200
MAX_ENV_VALUE = 32 * 1024


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


class EnvVarSchema(Schema):
    class Meta:
        unknown = RAISE

    name = StrictString(required=True)
    value = EnvValue(required=True)

    @validates("name")
    def _name(self, value, **kwargs):
        if not ENV_NAME_RE.match(value):
            raise ValidationError("must match [A-Za-z_][A-Za-z0-9_]*")


class ServiceSpecSchema(Schema):
    class Meta:
        unknown = RAISE

    name = StrictString(required=True, validate=check_name)
    port = fields.Integer(required=True, strict=True)
    domain = StrictString(required=True, validate=check_domain)
    image = StrictString(required=True, validate=check_image)
    volumeMount = StrictString(validate=check_volume_mount, allow_none=True)
    env = fields.List(fields.Nested(EnvVarSchema), allow_none=True)

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
class Definition:
    """A validated service definition, normalised (env values as strings, empty env as [])."""

    name: str
    port: int
    domain: str
    image: str
    volume_mount: str | None = None
    env: tuple[EnvVar, ...] = field(default_factory=tuple)

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
        return spec

    def document(self) -> dict:
        return {"apiVersion": API_VERSION, "spec": self.spec_dict()}

    def digest(self) -> str:
        """A stable hash of the spec: equal specs, equal digests (used to skip no-op applies)."""
        canonical = json.dumps(self.spec_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


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
