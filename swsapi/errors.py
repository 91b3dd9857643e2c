"""Every failure becomes one JSON shape: {"error": {"status", "code", "message", "fields"?}}.

Views and the store raise ApiError (or let HTTP and database errors through); only this
module builds error responses.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from swsapi.extensions import db
from swscore.spec import SpecError

log = logging.getLogger(__name__)

# werkzeug's HTTP errors mapped onto the API's codes (ARCHITECTURE.md lists them).
HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    413: "too_large",
}

# Unique constraints (named by extensions.NAMING_CONVENTION) and what a violation means.
UNIQUE_MESSAGES = {
    "uq_services_name": "that service name is already taken",
    "uq_services_domain": "that domain is already used by another service",
    "uq_users_name": "that user name is already taken",
    "pk_volumes": "that service name is held by a kept volume",
    "pk_service_domains": "that domain is already used by another service",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: dict | None = None,
        headers: dict | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.headers = headers or {}  # e.g. Retry-After


def invalid_request(message: str, fields: dict | None = None) -> ApiError:
    return ApiError(400, "invalid_request", message, fields)


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


def conflict(message: str, fields: dict | None = None) -> ApiError:
    return ApiError(409, "conflict", message, fields)


def in_item(err: ApiError | SpecError, index: int, name: str | None) -> ApiError:
    """An error of one item of a multi-document apply, its fields named by the item's place
    (items[2].spec.port) and its message by the item, so the user knows which one to fix."""
    fields = {
        # "(document)" is the whole item: named by its place alone.
        f"items[{index}]" + ("" if path.startswith("(") else f".{path}"): message
        for path, message in err.fields.items()
    }
    label = f"items[{index}]" + (f" ({name})" if name else "")
    if isinstance(err, SpecError):
        return ApiError(400, "invalid_definition", f"{label}: the definition is not valid", fields)
    return ApiError(err.status, err.code, f"{label}: {err.message}", fields)


def error_response(err: ApiError, headers: dict | None = None):
    body = {"status": err.status, "code": err.code, "message": err.message}
    if err.fields:
        body["fields"] = err.fields
    response = jsonify({"error": body})
    response.status_code = err.status
    if err.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="sws"'
    response.headers.update(err.headers)
    response.headers.update(headers or {})
    return response


def code_for_status(status: int) -> str:
    return HTTP_CODES.get(status, "invalid_request" if status < 500 else "internal")


def _http_error(err: HTTPException):
    status = err.code or 500
    code = code_for_status(status)
    message = {
        404: "no such endpoint",
        413: "the request body is too large",
    }.get(status, err.description or err.name)
    headers = {}
    if status == 405 and getattr(err, "valid_methods", None):
        headers["Allow"] = ", ".join(sorted(err.valid_methods))
        message = f"method not allowed here; allowed: {headers['Allow']}"
    return error_response(ApiError(status, code, message), headers)


def _spec_error(err: SpecError):
    return error_response(
        ApiError(400, "invalid_definition", "the service definition is not valid", err.fields)
    )


def _integrity_error(err: IntegrityError):
    # Reached only when the store did not turn the violation into a conflict itself.
    db.session.rollback()
    constraint = getattr(getattr(err.orig, "diag", None), "constraint_name", None)
    message = UNIQUE_MESSAGES.get(constraint, "the change conflicts with stored data")
    return error_response(conflict(message))


def _database_error(err: DBAPIError):
    if isinstance(err, (OperationalError, InterfaceError)) or err.connection_invalidated:
        log.warning("database unavailable: %s", str(err.orig).strip())
        return error_response(
            ApiError(503, "database_unavailable", "the database (sws-confdb) is unavailable")
        )
    return _internal_error(err)


def _internal_error(err: Exception):
    log.exception("unhandled error", exc_info=err)
    return error_response(ApiError(500, "internal", "internal error; see the apiserver log"))


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ApiError, error_response)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(SpecError, _spec_error)
    app.register_error_handler(IntegrityError, _integrity_error)
    app.register_error_handler(DBAPIError, _database_error)
    app.register_error_handler(Exception, _internal_error)
