"""The SWS API over HTTP: one method per endpoint, every failure a domain exception.

Callers never see a requests exception or a status code; they get a service (a dict as the
API returns it) or one of the exceptions in swsctl.errors with a message a user can act on
(netfailures.py words those of a request that got no answer).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote, urlencode

import requests

from swsctl.errors import ServerError, Unreachable
from swsctl.transport import (
    Label,
    Locate,
    Transport,
    _nowhere,
)

# Services a page of `swsctl ls` asks for (the API's most; ARCHITECTURE.md, GET /v1/services).
LIST_PAGE = 500


class ApiClient(Transport):
    """A connection to one SWS API (transport.py): one method per endpoint."""

    # The endpoints ---------------------------------------------------------------

    def whoami(self) -> dict:
        return self._request("GET", "/v1/whoami")

    def list_services(self) -> list[dict]:
        """Every service of the caller: the pages of GET /v1/services, followed to the end."""
        services: list[dict] = []
        cursor = None
        while True:
            query = f"?limit={LIST_PAGE}" + (f"&cursor={quote(cursor, safe='')}" if cursor else "")
            page = self._request("GET", "/v1/services" + query)
            if not isinstance(page.get("services"), list):
                raise ServerError(f"{self.base_url} answered the service list in an unknown shape.")
            services += page["services"]
            following = page.get("next_cursor")
            if not following:
                return services
            if not isinstance(following, str) or (cursor is not None and following <= cursor):
                # Names only grow from page to page: anything else would loop for ever.
                raise ServerError(f"{self.base_url} answered a page cursor that goes nowhere.")
            cursor = following

    def get_service(self, name: str) -> dict:
        return self._request("GET", _service_path(name), about_service=True)

    def apply(
        self,
        document: dict,
        *,
        source: str = "the definition",
        locate: Locate | None = None,
        force: bool = False,
    ) -> dict:
        """Create or update a service; the answer carries result created/updated/unchanged
        (restarted: forced, an unchanged spec as a new generation).

        `locate` maps a field path the server complains about to the line of the user's file.
        """
        name = document["spec"]["name"]
        return self._request(
            "PUT",
            _service_path(name) + ("?force=true" if force else ""),
            body=document,
            source=source,
            locate=locate,
        )

    def apply_many(self, documents: list[dict], *, locate: Locate, label: Label) -> list[dict]:
        """Create or update several services in one transaction, all or none; each answer
        as apply's. `locate` and `label` map a field the server names (items[2].spec.port)
        to the line and the file and document it came from."""
        answer = self._request(
            "POST",
            "/v1/apply",
            body={"items": documents},
            source="the definitions",
            locate=locate,
            label=label,
        )
        if not isinstance(answer.get("items"), list):
            raise ServerError(f"{self.base_url} answered the apply in an unknown shape.")
        return answer["items"]

    def stop(self, name: str) -> dict:
        """Ask the agent to stop the service (result stopped, or unchanged)."""
        return self._request("POST", _service_path(name) + "/stop", about_service=True)

    def start(self, name: str) -> dict:
        """Start a stopped service again (result started, or unchanged)."""
        return self._request("POST", _service_path(name) + "/start", about_service=True)

    def stacks(self) -> list[dict]:
        return self._request("GET", "/v1/stacks").get("stacks") or []

    def stack(self, name: str) -> dict:
        """The stack's services: name, status, domain, generation, message, last log line."""
        return self._request("GET", _stack_path(name), about_service=True, hint=STACK_HINT)

    def delete_stack(self, name: str, *, purge: bool = False) -> dict:
        path = _stack_path(name) + ("?purge=true" if purge else "")
        return self._request("DELETE", path, about_service=True, hint=STACK_HINT)

    def stop_stack(self, name: str) -> dict:
        return self._request(
            "POST", _stack_path(name) + "/stop", about_service=True, hint=STACK_HINT
        )

    def start_stack(self, name: str) -> dict:
        return self._request(
            "POST", _stack_path(name) + "/start", about_service=True, hint=STACK_HINT
        )

    def delete(self, name: str, *, purge: bool = False) -> dict:
        """Mark a service for removal; with purge, its volume and the data in it go too."""
        path = _service_path(name) + ("?purge=true" if purge else "")
        return self._request("DELETE", path, about_service=True)

    def logs(self, name: str, **params) -> dict:
        """A page of the service's log: {"lines", "cursor", "more"} (params: tail, since,
        after, limit; None values are left out)."""
        query = {k: v for k, v in params.items() if v is not None}
        path = _service_path(name) + "/logs" + ("?" + urlencode(query) if query else "")
        return self._request("GET", path, about_service=True)

    def follow_logs(self, name: str, **params) -> Iterator[dict]:
        """The service's log as it grows: each line's object, and last {"end", "cursor"}.

        The server sends a blank line at least every 15 s, so a read that waits much longer
        means the connection is gone (Unreachable); the caller resumes from its cursor.
        """
        query = {k: v for k, v in params.items() if v is not None}
        path = _service_path(name) + "/logs?" + urlencode({**query, "follow": "true"})
        response = self._send("GET", path, stream=True, timeout=max(self.timeout, 60.0))
        with response:
            if response.status_code != 200:
                self._answer(response, about_service=True, source="", locate=_nowhere)
            try:
                for raw in response.iter_lines():
                    if raw.strip():
                        yield json.loads(raw)
            except (requests.RequestException, ValueError) as err:
                raise Unreachable(f"the log stream from {self.base_url} broke: {err}") from None

    def agent_passes(self, limit: int = 10) -> dict:
        """The agent's last passes (administrators): {"passes": [...]}, newest first."""
        return self._request("GET", f"/v1/agent/passes?limit={int(limit)}")

    def nodes(self) -> dict:
        """The swarm's nodes (administrators): {"nodes": [...]}, by name."""
        return self._request("GET", "/v1/nodes")

    def restart(self, name: str) -> dict:
        """Make a new generation of the service's current spec (result restarted)."""
        return self._request("POST", _service_path(name) + "/restart", about_service=True)

    def history(self, name: str, *, show_secrets: bool = False) -> dict:
        """The service's kept generations, newest first; env masked by the server unless
        show_secrets."""
        query = "?show_secrets=true" if show_secrets else ""
        return self._request("GET", _service_path(name) + "/history" + query, about_service=True)

    def rollback(self, name: str, generation: int | None = None) -> dict:
        """Apply a kept generation's spec as a new generation (default: the previous spec)."""
        return self._request(
            "POST",
            _service_path(name) + "/rollback",
            body=None if generation is None else {"generation": generation},
            about_service=True,
            source=f"the spec of generation {generation}" if generation else "the previous spec",
            hint=f"`swsctl history {name}` lists the kept generations",
        )

    # Certificates (issue 15; one a domain, alias or redirect since issue 27) ------

    def certificate(self, name: str, domain: str | None = None) -> dict:
        """A certificate of the service: source, domain, state, fingerprint, expiry (no key)."""
        path = _cert_path(name, domain)
        return self._request("GET", path, about_service=True, hint=CERT_HINT)

    def certificates(self, name: str) -> dict:
        """Each of the service's domains with its certificate (or None)."""
        return self._request("GET", _service_path(name) + "/certificates", about_service=True)

    def set_certificate(self, name: str, chain_pem: str, key_pem: str, domain=None) -> dict:
        """Upload a domain's own certificate chain and key (the key never comes back)."""
        body = {"certificate": chain_pem, "key": key_pem}
        path = _cert_path(name, domain)
        return self._request("PUT", path, body=body, about_service=True, source="the certificate")

    def delete_certificate(self, name: str, domain: str | None = None) -> None:
        self._request("DELETE", _cert_path(name, domain), about_service=True, hint=CERT_HINT)

    # Private registries (issue 26) -------------------------------------------------

    def registries(self) -> dict:
        """The registries the user has credentials for (hosts and user names, no password)."""
        return self._request("GET", "/v1/registries")

    def registry_login(self, host: str, username: str, password: str) -> dict:
        """Store credentials for a registry; the server seals the password at once."""
        body = {"username": username, "password": password}
        return self._request("PUT", _registry_path(host), body=body, source="the login")

    def registry_logout(self, host: str) -> dict:
        return self._request("DELETE", _registry_path(host), hint=REGISTRY_HINT)

    # The transport ---------------------------------------------------------------


CERT_HINT = "`swsctl cert set NAME --cert FILE --key FILE` uploads one"
REGISTRY_HINT = "`swsctl registry ls` lists your registries"
STACK_HINT = "`swsctl ls` shows your services' stacks"


def _service_path(name: str) -> str:
    # Quoted whole, so a name typed with / or .. cannot address another endpoint.
    return "/v1/services/" + quote(name, safe="")


def _cert_path(name: str, domain: str | None) -> str:
    query = "?" + urlencode({"domain": domain}) if domain else ""
    return _service_path(name) + "/certificate" + query


def _registry_path(host: str) -> str:
    return "/v1/registries/" + quote(host, safe="")


def _stack_path(name: str) -> str:
    return "/v1/stacks/" + quote(name, safe="")
