"""The HTTP under swsctl's API client: one requests session to one SWS API (base URL, bearer
token, CA bundle, timeouts), and every answer turned into a dict or one of swsctl.errors'
exceptions with a message a user can act on (netfailures.py words those of a request that
got no answer). client.py has the endpoints; jobs.py and backups.py the longer exchanges.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import requests

from swsctl import __version__
from swsctl.config import Settings, normalise_url
from swsctl.errors import (
    Conflict,
    FieldProblem,
    InvalidDefinition,
    InvalidInput,
    NotConfigured,
    NotFound,
    ServerError,
    Unauthorized,
)
from swsctl.netfailures import transport_error

Locate = Callable[[str], "int | None"]
Label = Callable[[str], str]

CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 30.0
USER_AGENT = f"swsctl/{__version__}"


class Transport:
    """A connection to one SWS API: base URL, bearer token, CA bundle and timeouts."""

    def __init__(self, settings: Settings | None = None, *, timeout: float | None = None):
        self.settings = settings or Settings()
        self.timeout = timeout or DEFAULT_READ_TIMEOUT
        self._session = requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT
        self._session.headers["Accept"] = "application/json"

    def use(self, settings: Settings, *, timeout: float | None = None) -> None:
        """Point this client at other settings (the CLI fills them in after parsing options)."""
        self.settings = settings
        if timeout:
            self.timeout = timeout

    @property
    def base_url(self) -> str:
        if not self.settings.url:
            raise NotConfigured(
                "swsctl does not know the API address: run `swsctl configure`, "
                "or set SWS_URL (and SWS_TOKEN) or pass --url."
            )
        return normalise_url(self.settings.url)

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: dict | None = None,
        auth: bool = True,
        about_service: bool = False,
        source: str = "the definition",
        locate: Locate | None = None,
        label: Label | None = None,
        hint: str = "`swsctl ls` lists your services",
    ) -> dict:
        data = None
        headers = {}
        if body is not None:
            # default=str: a YAML date sent with --no-validate reaches the server as text,
            # and the server names the field, instead of a TypeError here.
            data = json.dumps(body, default=str).encode()
            headers["Content-Type"] = "application/json"
        response = self._send(method, path, data=data, headers=headers, auth=auth)
        return self._answer(
            response,
            about_service=about_service,
            source=source,
            locate=locate or _nowhere,
            label=label or _as_is,
            hint=hint,
        )

    def _send(
        self,
        method: str,
        path: str,
        *,
        data: bytes | None = None,
        headers: dict | None = None,
        auth: bool = True,
        stream: bool = False,
        timeout: float | None = None,
    ) -> requests.Response:
        url = self.base_url + path
        headers = dict(headers or {})
        if auth:
            if not self.settings.token:
                raise NotConfigured(
                    "swsctl has no access token: run `swsctl configure`, "
                    "or set SWS_TOKEN or pass --token."
                )
            headers["Authorization"] = f"Bearer {self.settings.token}"
        try:
            return self._session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=(CONNECT_TIMEOUT, timeout or self.timeout),
                verify=self.settings.ca_cert or True,
                allow_redirects=False,
                stream=stream,
            )
        except OSError as err:  # requests' exceptions are OSErrors, and so is a bad CA path
            raise transport_error(
                err,
                self.base_url,
                connect_timeout=CONNECT_TIMEOUT,
                read_timeout=self.timeout,
                ca_cert=self.settings.ca_cert,
            ) from None

    def _answer(
        self,
        response: requests.Response,
        *,
        about_service: bool,
        source: str,
        locate: Locate,
        label: Label | None = None,
        hint: str = "`swsctl ls` lists your services",
    ) -> dict:
        label = label or _as_is
        body = _json_body(response)
        if response.status_code < 300 and isinstance(body, dict):
            return body
        error = (body or {}).get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return self._not_the_api(response)
        message = error.get("message") or response.reason
        status = response.status_code
        if status == 401:
            raise Unauthorized(
                f"the server refused the access token ({message}); run `swsctl configure` "
                "with a valid token, or check SWS_TOKEN."
            )
        if status == 403:
            raise Unauthorized(f"not allowed: {message}")
        if status == 404 and about_service:
            raise NotFound(f"{message}; {hint}.")
        if status == 404:
            raise NotFound(f"{self.base_url} has no such endpoint; is it an SWS API address?")
        fields = error.get("fields") if isinstance(error.get("fields"), dict) else {}
        problems = [FieldProblem(label(path), msg, locate(path)) for path, msg in fields.items()]
        if status == 409:
            details = "".join(f"\n  {problem}" for problem in problems)
            raise Conflict(f"conflict: {message}{details}")
        if status == 400 and any(p.startswith(("spec", "apiVersion", "items[")) for p in fields):
            raise InvalidDefinition(source, problems, by_server=True)
        if 400 <= status < 500:
            raise InvalidInput(f"the server refused the request ({status}): {message}")
        raise ServerError(f"the server failed ({status} {error.get('code', '')}): {message}")

    def _not_the_api(self, response: requests.Response) -> dict:
        """An answer without SWS's error shape: a proxy's page, a wrong address, a crash."""
        status = response.status_code
        where = f"{self.base_url} answered {status} {response.reason}"
        if 300 <= status < 400:
            location = response.headers.get("Location", "")
            raise InvalidInput(
                f"{where}, redirecting to {location}; use that address "
                "(for example https:// instead of http://)."
            )
        if status == 401:
            raise Unauthorized(f"{where}: the access token was refused.")
        if status == 404:
            raise NotFound(f"{where}: is this the address of an SWS API?")
        if status >= 500:
            raise ServerError(f"{where}; the SWS API or the load balancer in front of it failed.")
        raise ServerError(f"{where}, which is not an SWS API answer; check the address.")


def _nowhere(path: str) -> None:
    return None


def _as_is(path: str) -> str:
    return path


def _json_body(response: requests.Response):
    if "json" not in response.headers.get("Content-Type", ""):
        return None
    try:
        return response.json()
    except ValueError:
        return None
