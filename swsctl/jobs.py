"""Jobs through the API (issue 26): start a one-off run, follow its output to its end, stop it,
list a service's runs. The client's transport (client.py) carries every request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote, urlencode

import requests

from swsctl.client import ApiClient
from swsctl.errors import ServerError, Unreachable
from swsctl.transport import _nowhere

TOLERATED_FAILED_STREAMS = 3


def _runs_path(name: str, run_id: int | None = None) -> str:
    path = "/v1/services/" + quote(name, safe="") + "/jobs"
    return path if run_id is None else f"{path}/{int(run_id)}"


def start_run(client: ApiClient, name: str, command: list[str], timeout: str | None) -> dict:
    body: dict = {"command": list(command)}
    if timeout is not None:
        body["timeout"] = int(timeout) if timeout.isdigit() else timeout
    return client._request("POST", _runs_path(name), body=body, about_service=True)


def stop_run(client: ApiClient, name: str, run_id: int) -> dict:
    return client._request("POST", _runs_path(name, run_id) + "/stop", about_service=True)


def list_runs(client: ApiClient, name: str, limit: int = 20) -> dict:
    return client._request("GET", _runs_path(name) + f"?limit={int(limit)}", about_service=True)


def output_page(client: ApiClient, name: str, run_id: int, after: int = 0) -> dict:
    path = _runs_path(name, run_id) + "/logs?" + urlencode({"after": after})
    return client._request("GET", path, about_service=True)


def _stream(client: ApiClient, name: str, run_id: int, after: int) -> Iterator[dict]:
    path = _runs_path(name, run_id) + "/logs?" + urlencode({"after": after, "follow": "true"})
    response = client._send("GET", path, stream=True, timeout=max(client.timeout, 60.0))
    with response:
        if response.status_code != 200:
            client._answer(response, about_service=True, source="", locate=_nowhere)
        try:
            for raw in response.iter_lines():
                if raw.strip():
                    yield json.loads(raw)
        except (requests.RequestException, ValueError) as err:
            raise Unreachable(f"the output stream from {client.base_url} broke: {err}") from None


def follow(client: ApiClient, name: str, run_id: int, after: int = 0) -> Iterator[dict]:
    """The run's lines as they come, and last its ending: {"end": "finished", "state",
    "exit_code", "message"} (or {"end": "deleted"}). A stream the server ends for its own
    reasons (its longest stream, a restart) is opened again from the cursor."""
    failures = 0
    while True:
        try:
            for item in _stream(client, name, run_id, after):
                if "end" in item:
                    after = item.get("cursor", after)
                    if item["end"] in ("finished", "deleted"):
                        yield item
                        return
                    if item["end"] == "evicted":
                        raise ServerError("the server gave this stream's slot to another user")
                    break
                after = item["cursor"]
                failures = 0
                yield item
        except (Unreachable, ServerError):
            failures += 1
            if failures >= TOLERATED_FAILED_STREAMS:
                raise
