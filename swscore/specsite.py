"""What the proxies serve around a service (issue 27): more domains (aliases), domains answered
with a redirect, who may reach it (basic auth, client addresses) and its own error pages.

Each value is checked for what it becomes: a domain goes into nginx server_name (check_domain,
the host's own names refused), a user and a password hash into an htpasswd file nginx reads
with the C library's crypt(3), a network into an nginx geo block, a page into a static file.
A page is never written into the configuration and never executed (no SSI).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from marshmallow import RAISE, Schema, ValidationError, fields, validates

from swscore.specfields import StrictString, check_domain

MAX_ALIASES = 20
MAX_REDIRECTS = 20
MAX_USERS = 50
MAX_ALLOW = 64
MAX_PAGE_BYTES = 64 * 1024
PAGE_KINDS = ("maintenance", "error")

# An htpasswd user: ':' ends the name in the file, so only inert characters.
BASIC_USER_RE = re.compile(r"^[A-Za-z0-9._@+-]{1,64}\Z")
# bcrypt as crypt(3) writes it. The proxy image's libc (libxcrypt 4.4) verifies $2a$, $2b$
# and $2y$; it has no argon2 (crypt answers "*0"), so argon2id could never match. Cost 10 to
# 14: below is cheap to guess, above costs the proxy a second of CPU per check (each wrong
# password, and each right one the proxies do not remember: sws_authcache.lua).
BCRYPT_RE = re.compile(r"^\$2[aby]\$(?P<cost>[0-9]{2})\$[./A-Za-z0-9]{53}\Z")
BCRYPT_COSTS = range(10, 15)


def check_password_hash(value: str) -> None:
    match = BCRYPT_RE.match(value)
    if match and int(match.group("cost")) in BCRYPT_COSTS:
        return
    if match:
        raise ValidationError("a bcrypt hash's cost must be from 10 to 14")
    if value.startswith("$argon2"):
        raise ValidationError(
            "argon2 hashes cannot be checked by this host's proxies (nginx uses the C "
            "library's crypt, which has bcrypt and no argon2): use a bcrypt hash"
        )
    raise ValidationError(
        "must be a bcrypt hash ($2y$12$ and 53 characters, as `htpasswd -nbBC 12 USER` "
        "prints it); a clear password is never accepted"
    )


def normal_network(value: str) -> str:
    """'203.0.113.7/24' -> '203.0.113.0/24', '2001:DB8::/32' -> '2001:db8::/32'; an address
    alone is its own network. ValueError for anything else (a zone index among it)."""
    if "%" in value or not value.strip() or value != value.strip():
        raise ValueError(value)
    return str(ipaddress.ip_network(value, strict=False))


class PageText(fields.Field):
    """HTML written to a file as given: any text but NUL, at most 64 KiB in UTF-8."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("must be a string (the page's HTML)")
        if "\x00" in value:
            raise ValidationError("must not contain a NUL character")
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:  # a lone surrogate from JSON's \ud800 escapes
            raise ValidationError("must be valid Unicode text") from None
        if size > MAX_PAGE_BYTES:
            raise ValidationError(f"must be at most {MAX_PAGE_BYTES // 1024} KiB (is {size} bytes)")
        return value


class Network(fields.Field):
    """A client network for the proxies' geo block, normalised (see normal_network)."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return normal_network(value) if isinstance(value, str) else normal_network("")
        except ValueError:
            raise ValidationError(
                "must be an IPv4 or IPv6 address or network (203.0.113.0/24, 2001:db8::/32)"
            ) from None


def DomainList(most: int) -> fields.List:  # noqa: N802 - reads as a field class in the schema
    def check(value: list) -> None:
        if len(value) > most:
            raise ValidationError(f"must have at most {most} domains")
        twice = sorted({d for d in value if value.count(d) > 1})
        if twice:
            raise ValidationError(f"{twice[0]} is listed twice")

    return fields.List(StrictString(validate=check_domain), validate=check, allow_none=True)


class BasicUserSchema(Schema):
    class Meta:
        unknown = RAISE

    user = StrictString(required=True)
    passwordHash = StrictString(required=True, validate=check_password_hash)

    @validates("user")
    def _user(self, value, **kwargs):
        if not BASIC_USER_RE.match(value):
            raise ValidationError("must be 1 to 64 letters, digits or . _ @ + -")


class AccessSchema(Schema):
    """spec.access: who may reach the service; both keys optional, both apply when given."""

    class Meta:
        unknown = RAISE

    basicAuth = fields.List(fields.Nested(BasicUserSchema), allow_none=True)
    allow = fields.List(Network(), allow_none=True)

    @validates("basicAuth")
    def _users(self, value, **kwargs):
        if value is not None and not 1 <= len(value) <= MAX_USERS:
            raise ValidationError(f"must list 1 to {MAX_USERS} users")
        names = [u["user"] for u in value or () if "user" in u]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValidationError(f"user {twice[0]} is listed twice")

    @validates("allow")
    def _allow(self, value, **kwargs):
        if value is not None and not 1 <= len(value) <= MAX_ALLOW:
            raise ValidationError(f"must list 1 to {MAX_ALLOW} networks")
        for index, network in enumerate(value or ()):
            if network in value[:index]:
                raise ValidationError(f"{network} is listed twice (allow[{index}])")


class PagesSchema(Schema):
    class Meta:
        unknown = RAISE

    maintenance = PageText(allow_none=True)
    error = PageText(allow_none=True)


def check_site_names(data: dict) -> None:
    """The spec's domain, aliases and redirects: each name once, and only with a domain (an
    alias or a redirect is always to the service's domain). For ServiceSpecSchema."""
    aliases, redirects = data.get("aliases") or [], data.get("redirects") or []
    if not data.get("domain"):
        for key, value in (("aliases", aliases), ("redirects", redirects)):
            if value:
                raise ValidationError(f"a service without a domain has no {key}", key)
    for index, name in enumerate(aliases):
        if name == data.get("domain"):
            raise ValidationError(f"{name} is the service's domain", f"aliases[{index}]")
    for index, name in enumerate(redirects):
        if name == data.get("domain") or name in aliases:
            raise ValidationError(f"{name} is also served by the service", f"redirects[{index}]")


@dataclass(frozen=True)
class BasicUser:
    user: str
    password_hash: str


@dataclass(frozen=True)
class SiteSettings:
    """spec.aliases, redirects, access and pages, as the API stores them (networks normalised)."""

    aliases: tuple[str, ...] = ()
    redirects: tuple[str, ...] = ()
    users: tuple[BasicUser, ...] = ()
    allow: tuple[str, ...] = ()
    maintenance_page: str | None = None
    error_page: str | None = None

    @classmethod
    def from_loaded(cls, spec: dict) -> SiteSettings | None:
        access, pages = spec.get("access") or {}, spec.get("pages") or {}
        site = cls(
            aliases=tuple(spec.get("aliases") or ()),
            redirects=tuple(spec.get("redirects") or ()),
            users=tuple(
                BasicUser(u["user"], u["passwordHash"]) for u in access.get("basicAuth") or ()
            ),
            allow=tuple(normal_network(n) for n in access.get("allow") or ()),
            maintenance_page=pages.get("maintenance"),
            error_page=pages.get("error"),
        )
        return site if site != cls() else None

    def spec_items(self) -> dict:
        """The spec keys of what is set, only those: a spec without them keeps its digest."""
        items: dict = {}
        if self.aliases:
            items["aliases"] = list(self.aliases)
        if self.redirects:
            items["redirects"] = list(self.redirects)
        access: dict = {}
        if self.users:
            access["basicAuth"] = [
                {"user": u.user, "passwordHash": u.password_hash} for u in self.users
            ]
        if self.allow:
            access["allow"] = list(self.allow)
        if access:
            items["access"] = access
        pages = {k: v for k, v in self.pages().items() if v is not None}
        if pages:
            items["pages"] = pages
        return items

    def pages(self) -> dict[str, str | None]:
        return {"maintenance": self.maintenance_page, "error": self.error_page}

    def htpasswd(self) -> str:
        """The file nginx's auth_basic_user_file reads: user:hash, one a line."""
        return "".join(f"{u.user}:{u.password_hash}\n" for u in self.users)
