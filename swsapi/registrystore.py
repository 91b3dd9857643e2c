"""A user's private-registry credentials (issue 26): stored with the password sealed to the
host's key, listed without it, forgotten on logout.

The apiserver can seal but never open (it holds only the public key, SWS_CERT_SEAL_KEY): the
agent opens a password when it pulls an image of that user's from that registry.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import select

from swsapi.errors import ApiError, invalid_request, not_found
from swsapi.extensions import db
from swsapi.models import RegistryCredential, User
from swscore import registries, sealing

LOGIN_FIELDS = ("username", "password")
# Docker's own limits are looser; these keep a row and the X-Registry-Auth header small.
MAX_USERNAME = 255
MAX_PASSWORD = 4096


def checked_host(host: str) -> str:
    """The registry address, lowercased; 400 when it is the host itself or malformed, 403 when
    the operator's list (SWS_REGISTRIES_ALLOWED) leaves it out."""
    host = host.strip().lower()
    problem = registries.address_problem(host, current_app.config["SWS_RESERVED_DOMAINS"])
    if problem:
        raise invalid_request(f"host {problem}", {"host": problem})
    if not registries.allowed(host, current_app.config["SWS_REGISTRIES_ALLOWED"]):
        raise ApiError(403, "forbidden", f"registry {host} is not one this host pulls from")
    return host


def _checked_login(body: dict) -> tuple[str, str]:
    unknown = sorted(set(body) - set(LOGIN_FIELDS))
    if unknown:
        raise invalid_request(
            f"unknown field {unknown[0]!r}; the body holds username and password",
            {key: "unknown field" for key in unknown},
        )
    fields = {}
    for key, limit in (("username", MAX_USERNAME), ("password", MAX_PASSWORD)):
        value = body.get(key)
        if not isinstance(value, str) or not value or len(value) > limit or "\0" in value:
            fields[key] = f"a string of 1 to {limit} characters"
    if ":" in str(body.get("username", "")):
        fields["username"] = "must not contain ':' (registries read user:password)"
    if fields:
        key = sorted(fields)[0]
        raise invalid_request(f"{key} {fields[key]}", fields)
    return body["username"], body["password"]


def login(user: User, host: str, body: dict) -> RegistryCredential:
    """Store (or replace) the user's credentials for the registry at `host`."""
    host = checked_host(host)
    username, password = _checked_login(body)
    seal_key = current_app.config["SWS_CERT_SEAL_KEY"]
    if seal_key is None:
        raise ApiError(
            503, "not_configured", "this host keeps no credentials (no sealing key was made)"
        )
    found = _credential(user, host, for_update=True)
    credential = found or RegistryCredential(user_id=user.id, host=host)
    credential.username = username
    credential.password_sealed = sealing.seal(seal_key, password.encode())
    credential.updated_at = datetime.now(UTC)
    db.session.add(credential)
    db.session.commit()
    return credential


def logout(user: User, host: str) -> None:
    """Forget the user's credentials for the registry; 404 when there are none."""
    credential = _credential(user, host.strip().lower(), for_update=True)
    if credential is None:
        raise not_found(f"no credentials for registry {host}")
    db.session.delete(credential)
    db.session.commit()


def list_credentials(user: User) -> list[RegistryCredential]:
    query = select(RegistryCredential).where(RegistryCredential.user_id == user.id)
    return list(db.session.scalars(query.order_by(RegistryCredential.host)))


def _credential(user: User, host: str, for_update: bool = False) -> RegistryCredential | None:
    query = select(RegistryCredential).where(
        RegistryCredential.user_id == user.id, RegistryCredential.host == host
    )
    if for_update:
        query = query.with_for_update()
    return db.session.scalars(query).first()
