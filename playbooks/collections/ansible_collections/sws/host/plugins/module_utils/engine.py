"""The Docker Engine API over the engine's unix socket: the calls SWS makes to start, stop and
look at service containers and their volumes, and to follow their output.

Standard library only, and no process of its own: the action plugins call it inside
ansible-playbook (every host is this machine), the background removal (retire.py) in a child;
the agent's observe step, watch loop and log shipper and the tests import the same module. A
call is one HTTP request on the socket: about a millisecond, where a `docker` CLI process
costs 50 ms and a community.docker module 1-2 s.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
from urllib.parse import quote, urlencode

DEFAULT_SOCKET = "/var/run/docker.sock"
API = "/v1.41"  # the engine here is 20.10; every call below exists since 1.41


class EngineError(RuntimeError):
    """The engine could not be asked, or answered an error (status, and its message)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def socket_path() -> str:
    host = os.environ.get("DOCKER_HOST", "")
    return host.removeprefix("unix://") if host.startswith("unix://") else DEFAULT_SOCKET


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


class Engine:
    """One engine; each call opens its own connection (calls may come from several threads)."""

    def __init__(self, path: str | None = None, timeout: float = 30.0):
        self.path = path or socket_path()
        self.timeout = timeout

    def call(self, method: str, url: str, body=None, params=None, timeout=None, headers=None):
        """The decoded JSON answer (None when empty); EngineError for an error status."""
        raw = self._raw(method, url, body, params, timeout, headers)
        return json.loads(raw) if raw.strip() else None

    def read(self, url: str, params=None, timeout=None) -> bytes:
        """The raw answer of a GET (a service's log, which is no JSON)."""
        return self._raw("GET", url, None, params, timeout, None)

    def _raw(self, method: str, url: str, body, params, timeout, extra_headers) -> bytes:
        if params:
            url = f"{url}?{urlencode(params)}"
        conn = _UnixConnection(self.path, self.timeout if timeout is None else timeout)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        headers.update(extra_headers or {})
        try:
            conn.request(method, API + url, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        except OSError as err:
            raise EngineError(f"docker engine at {self.path}: {err}") from None
        finally:
            conn.close()
        if response.status >= 300:
            raise EngineError(_message(raw) or f"answered {response.status}", response.status)
        return raw

    def stream(self, url: str, params=None):
        """(connection, response) of a GET that answers for as long as it likes (a container's
        log stream): no timeout; the caller reads the response and closes the connection."""
        if params:
            url = f"{url}?{urlencode(params)}"
        conn = _UnixConnection(self.path, None)
        try:
            conn.request("GET", API + url)
            response = conn.getresponse()
        except OSError as err:
            conn.close()
            raise EngineError(f"docker engine at {self.path}: {err}") from None
        if response.status >= 300:
            raw = response.read(2000)
            conn.close()
            raise EngineError(_message(raw) or f"answered {response.status}", response.status)
        return conn, response

    # --- containers ------------------------------------------------------------------------
    def containers(self, label: str, all_states: bool = True) -> list[dict]:
        """Every container carrying the label (a `key` or `key=value` filter)."""
        filters = json.dumps({"label": [label]})
        return self.call(
            "GET", "/containers/json", params={"all": int(all_states), "filters": filters}
        )

    def inspect(self, container: str) -> dict | None:
        """The container's inspect document, or None when there is no such container."""
        try:
            return self.call("GET", f"/containers/{quote(container)}/json")
        except EngineError as err:
            if err.status == 404:
                return None
            raise

    def create(self, name: str, config: dict) -> str:
        answer = self.call("POST", "/containers/create", body=config, params={"name": name})
        return answer["Id"]

    def start(self, container: str) -> None:
        self.call("POST", f"/containers/{quote(container)}/start")

    def stop(self, container: str, timeout: int, wait: float | None = None) -> None:
        """SIGTERM (or the image's stop signal), SIGKILL after `timeout` seconds; a container
        already stopped or gone is not an error. wait: give up waiting for the answer after so
        many seconds (EngineError with no status; the engine goes on with the stop)."""
        try:
            self.call(
                "POST",
                f"/containers/{quote(container)}/stop",
                params={"t": int(timeout)},
                timeout=int(timeout) + 30 if wait is None else wait,
            )
        except EngineError as err:
            if err.status not in (304, 404):
                raise

    def remove(self, container: str, force: bool = False) -> None:
        """Remove it (force: kill it first); gone already, or being removed, is no error."""
        try:
            self.call(
                "DELETE", f"/containers/{quote(container)}", params={"force": int(force), "v": 0}
            )
        except EngineError as err:
            if err.status == 404 or (err.status == 409 and "in progress" in str(err)):
                return
            raise

    # --- networks --------------------------------------------------------------------------
    def networks(self) -> list[dict]:
        """Every network on this engine (name, labels, IPAM subnets)."""
        return self.call("GET", "/networks")

    def create_network(
        self, name: str, subnet: str, labels: dict[str, str], bridge: str | None = None
    ) -> str:
        """A bridge network of one subnet where containers reach each other, and nothing
        else: internal (no route out; outbound goes through the services network). bridge: the
        Linux bridge's name (the host's firewall rules match it; None: Docker's br-<id>)."""
        options = {"com.docker.network.bridge.enable_icc": "true"}
        if bridge:
            options["com.docker.network.bridge.name"] = bridge
        body = {
            "Name": name,
            "Driver": "bridge",
            "Internal": True,
            "CheckDuplicate": True,
            "Labels": labels,
            "IPAM": {"Config": [{"Subnet": subnet}]},
            "Options": options,
        }
        return self.call("POST", "/networks/create", body=body)["Id"]

    def remove_network(self, name: str) -> None:
        """Remove it; gone already is no error (one still in use is: EngineError 403)."""
        try:
            self.call("DELETE", f"/networks/{quote(name)}")
        except EngineError as err:
            if err.status != 404:
                raise

    def connect(self, network: str, container: str, aliases: list[str]) -> None:
        """Attach the container (before it starts) under these names on the network."""
        body = {"Container": container, "EndpointConfig": {"Aliases": list(aliases)}}
        self.call("POST", f"/networks/{quote(network)}/connect", body=body)

    def run_in(self, container: str, command: list[str], timeout: float = 10.0) -> int | None:
        """Run a command in a running container, its output not kept; its exit code, or None
        when it still ran after `timeout` seconds (it goes on in the engine)."""
        made = self.call(
            "POST", f"/containers/{quote(container)}/exec", body={"Cmd": list(command)}
        )
        self.call("POST", f"/exec/{made['Id']}/start", body={"Detach": True})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.call("GET", f"/exec/{made['Id']}/json")
            if not state.get("Running"):
                return state.get("ExitCode")
            time.sleep(0.05)
        return None

    # --- volumes and images ----------------------------------------------------------------
    def volume(self, name: str) -> dict | None:
        try:
            return self.call("GET", f"/volumes/{quote(name)}")
        except EngineError as err:
            if err.status == 404:
                return None
            raise

    def create_volume(
        self, name: str, labels: dict[str, str], driver_opts: dict[str, str] | None = None
    ) -> dict:
        """A local volume; driver_opts: the local driver's (a bind of a mounted filesystem)."""
        body = {"Name": name, "Labels": labels}
        if driver_opts:
            body.update(Driver="local", DriverOpts=driver_opts)
        return self.call("POST", "/volumes/create", body=body)

    def remove_volume(self, name: str) -> None:
        try:
            self.call("DELETE", f"/volumes/{quote(name)}")
        except EngineError as err:
            if err.status != 404:
                raise

    def distribution(self, reference: str, auth: str | None, timeout: float = 30.0) -> dict:
        """What the registry serves for the reference (its manifest's descriptor and
        platforms), asked by the engine without pulling; auth: an X-Registry-Auth value."""
        headers = {"X-Registry-Auth": auth} if auth else {}
        url = f"/distribution/{quote(reference, safe='/:@')}/json"
        return self.call("GET", url, timeout=timeout, headers=headers)

    def pull(self, repository: str, tag: str, auth: str | None, timeout: float = 300.0) -> None:
        """Pull repository:tag (or @digest); the engine reports a failure inside its 200
        answer's progress stream, so the stream is read to its end. timeout: of each read."""
        headers = {"X-Registry-Auth": auth} if auth else {}
        params = {"fromImage": repository, "tag": tag}
        raw = self._raw("POST", "/images/create", None, params, timeout, headers)
        for line in raw.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("error"):
                raise EngineError(str(event["error"]).strip())

    def image(self, reference: str) -> dict | None:
        try:
            return self.call("GET", f"/images/{quote(reference, safe='/:@')}/json")
        except EngineError as err:
            if err.status == 404:
                return None
            raise


def _message(raw: bytes) -> str:
    try:
        return str(json.loads(raw).get("message", "")).strip()
    except (ValueError, AttributeError):
        return raw.decode(errors="replace").strip()[:300]
