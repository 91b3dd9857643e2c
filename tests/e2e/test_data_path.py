"""The data path carries real web applications, with real clients, through port 80.

One service (tests/fixtures/dataapp: websocket echo, streaming upload, server-sent events)
with spec.http set, behind the bootstrapped host's HAProxy and nginx proxies:
- a websocket (the websocket-client library) echoes, and its tunnel outlives a proxy roll;
- a 100 MB upload streams to the service and arrives whole;
- a server-sent-events stream sends its first event at once and lasts past 60 s;
- one keep-alive connection serves requests for 30 s across a roll with 0 failures, and a
  connection left idle for longer than a minute still serves;
- a slowloris client and a flood from one address do not stop another client's requests.
Clients that must count as other addresses bind 127.0.0.2-4 (the host itself, 127.0.0.1, is
not limited: see the proxies' and the load balancer's configuration).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import threading
import time
from pathlib import Path

import pytest
import requests
import websocket

from tests.e2e import test_agent as agent_tests
from tests.e2e.conftest import fixture_image
from tests.e2e.test_agent import domain, unique

pytestmark = pytest.mark.e2e

agent_host = agent_tests.agent_host  # the bootstrapped host, with this session's agent config
APP_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "dataapp"
HTTP = {"maxBodySize": "200m", "readTimeout": "90s", "buffering": False, "upgradeTimeout": "10m"}
UPLOAD_BYTES = 100 * 1000 * 1000
SSE_INTERVAL = 65  # seconds between events: past nginx's default read timeout of 60 s
IDLE_SECONDS = 62  # a keep-alive connection idle this long still serves (the edge keeps 75 s)


@pytest.fixture(scope="module")
def dataapp_image(agent_host, bootstrapped_host) -> str:
    return fixture_image(APP_DIR, "sws-test/dataapp", bootstrapped_host.images["python"])


@pytest.fixture(scope="module")
def app(agent_host, dataapp_image):
    """The data app, served: yields its name; deleted (and passed) afterwards."""
    name = unique("data")
    spec = {
        "name": name,
        "port": 8080,
        "domain": domain(name),
        "image": dataapp_image,
        "http": HTTP,
    }
    answer = agent_host.api("PUT", f"/services/{name}", json={"apiVersion": "v1", "spec": spec})
    assert answer.status_code == 201, answer.text
    agent_host.run_pass()
    agent_host.assert_running(name)
    yield name
    agent_host.delete(name)
    agent_host.run_pass()


def url(agent_host, path: str = "/") -> str:
    return agent_host.http + path


@pytest.fixture(scope="module")
def long_stream(agent_host, app):
    """A server-sent-events stream started first, read in the background by the last test, and
    a keep-alive connection that serves, stays idle for more than a minute (across the other
    tests' rolls) and serves again."""
    seen: list[tuple[float, str]] = []
    errors: list[str] = []
    idle: list = []  # the idle connection's answers (or its error)
    started = time.monotonic()

    def read() -> None:
        try:
            with requests.get(
                url(agent_host, f"/sse?n=2&interval={SSE_INTERVAL}"),
                headers={"Host": domain(app)},
                stream=True,
                timeout=(5, SSE_INTERVAL + 30),
            ) as answer:
                for line in answer.iter_lines():
                    if line.startswith(b"data:"):
                        seen.append((time.monotonic() - started, line.decode()))
        except Exception as err:  # reported by the test that joins
            errors.append(repr(err))

    def idle_client() -> None:
        try:
            conn = connection(agent_host)
            idle.append(get(conn, app))
            time.sleep(IDLE_SECONDS)
            idle.append(get(conn, app))
            conn.close()
        except Exception as err:  # reported by the test that joins
            idle.append(repr(err))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    idler = threading.Thread(target=idle_client, daemon=True)
    idler.start()
    yield reader, seen, errors, idler, idle


def connection(agent_host) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection("127.0.0.1", port(agent_host), timeout=10)
    conn.connect()
    return conn


def port(agent_host) -> int:
    return int(agent_host.http.rsplit(":", 1)[1])


def get(conn: http.client.HTTPConnection, app: str) -> int:
    """One GET on this very connection (http.client reconnects only after a close, which the
    callers rule out: a closed or reset connection raises here)."""
    conn.request("GET", "/", headers={"Host": domain(app)})
    answer = conn.getresponse()
    answer.read()
    assert answer.getheader("Connection", "").lower() != "close", "the edge closed the connection"
    return answer.status


def test_upload_of_100_mb_streams_to_the_service_whole(agent_host, app, long_stream):
    digest = hashlib.sha256()
    block = hashlib.sha256(b"sws").digest() * 32768  # 1 MiB of bytes that are not all alike

    def body():
        sent = 0
        while sent < UPLOAD_BYTES:
            chunk = block[: min(len(block), UPLOAD_BYTES - sent)]
            digest.update(chunk)
            sent += len(chunk)
            yield chunk

    answer = requests.post(
        url(agent_host, "/upload"), data=body(), headers={"Host": domain(app)}, timeout=300
    )
    assert answer.status_code == 200, answer.text[:300]
    assert answer.json() == {"bytes": UPLOAD_BYTES, "sha256": digest.hexdigest()}


def test_a_websocket_and_a_keep_alive_connection_outlive_a_roll(agent_host, app, long_stream):
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{port(agent_host)}/ws", host=domain(app), timeout=10
    )
    ws.send("before the roll")
    assert ws.recv() == "before the roll"

    outcomes: dict[str, int] = {}
    ports: set[int] = set()
    stop = threading.Event()

    def keep_alive_client() -> None:
        """Requests on one connection, never reopened: any close or reset is a failure."""
        conn = connection(agent_host)
        ports.add(conn.sock.getsockname()[1])
        while not stop.is_set():
            try:
                key = str(get(conn, app))
            except (OSError, http.client.HTTPException, AssertionError) as err:
                key = type(err).__name__
                conn.close()
                conn = connection(agent_host)
                ports.add(conn.sock.getsockname()[1])
            outcomes[key] = outcomes.get(key, 0) + 1
            time.sleep(0.05)
        conn.close()

    client = threading.Thread(target=keep_alive_client, daemon=True)
    started = time.monotonic()
    client.start()
    # A second service changes the routes: the pass drains, reloads and readies each proxy.
    other = unique("roll")
    agent_host.apply(other)
    agent_host.run_pass()
    assert agent_host.get(other).status_code == 200
    ws.send("after the roll")
    assert ws.recv() == "after the roll"
    ws.ping("still there")
    ws.close()

    agent_host.delete(other)
    agent_host.run_pass()
    time.sleep(max(0.0, 30 - (time.monotonic() - started)))
    stop.set()
    client.join(15)
    print(
        f"one keep-alive connection over {time.monotonic() - started:.0f} s and two rolls: "
        f"{outcomes}, connections {len(ports)}"
    )
    assert set(outcomes) == {"200"}, outcomes
    assert len(ports) == 1


def test_slowloris_does_not_stop_other_clients(agent_host, app, long_stream):
    port_ = port(agent_host)
    slow = []
    for _ in range(50):
        s = socket.create_connection(
            ("127.0.0.1", port_), timeout=5, source_address=("127.0.0.2", 0)
        )
        s.sendall(f"GET / HTTP/1.1\r\nHost: {domain(app)}\r\n".encode())
        slow.append(s)
    served = 0
    deadline = time.monotonic() + 14  # past the edge's 10 s header timeout
    while time.monotonic() < deadline:
        for s in slow:
            try:
                s.sendall(b"X-Slow: 1\r\n")
            except OSError:
                pass  # closed by the proxy: that is the point
        answer = requests.get(url(agent_host), headers={"Host": domain(app)}, timeout=5)
        assert answer.status_code == 200
        served += 1
        time.sleep(0.5)
    closed = sum(closed_by_the_edge(s) for s in slow)
    print(f"slowloris: {served} requests of another client served; {closed}/50 slow closed")
    assert closed == len(slow)


def closed_by_the_edge(s: socket.socket) -> bool:
    """Whether the edge closed this connection (HAProxy answers 408 first)."""
    s.settimeout(2)
    try:
        while s.recv(1024):
            pass
        return True
    except ConnectionResetError:
        return True
    except OSError:  # timed out: still open
        return False
    finally:
        s.close()


def test_a_flood_from_one_address_is_limited_and_others_pass(agent_host, app, long_stream):
    port_ = port(agent_host)
    # Connections: more at once than one address may hold.
    held, refused = [], 0
    for _ in range(300):
        try:
            held.append(
                socket.create_connection(
                    ("127.0.0.1", port_), timeout=5, source_address=("127.0.0.3", 0)
                )
            )
        except OSError:  # HAProxy may refuse before connect() returns
            refused += 1
    for s in held:
        s.settimeout(0.5)
        try:
            s.sendall(f"GET / HTTP/1.1\r\nHost: {domain(app)}\r\n\r\n".encode())
            refused += s.recv(64) == b""
        except OSError:
            refused += 1
    assert requests.get(url(agent_host), headers={"Host": domain(app)}, timeout=5).ok
    for s in held:
        s.close()
    # Requests: faster than one address may send them, on kept-alive connections.
    codes: dict[int, int] = {}
    conn = None
    for _ in range(600):
        if conn is None:
            conn = http.client.HTTPConnection(
                "127.0.0.1", port_, timeout=5, source_address=("127.0.0.4", 0)
            )
        conn.request("GET", "/", headers={"Host": domain(app)})
        answer = conn.getresponse()
        answer.read()
        codes[answer.status] = codes.get(answer.status, 0) + 1
        if answer.getheader("Connection", "").lower() == "close":
            conn.close()
            conn = None
    if conn is not None:
        conn.close()
    assert requests.get(url(agent_host), headers={"Host": domain(app)}, timeout=5).ok
    print(f"flood: {refused}/300 connections refused; requests by status {json.dumps(codes)}")
    assert refused >= 300 - 256
    assert codes.get(429, 0) > 0 and codes.get(200, 0) > 0


def test_an_event_stream_and_an_idle_connection_outlive_60_seconds(long_stream):
    reader, seen, errors, idler, idle = long_stream
    reader.join(SSE_INTERVAL + 60)
    assert not errors, errors
    assert [text.split(" at ")[0] for _, text in seen] == ["data: event 0", "data: event 1"]
    first, second = seen[0][0], seen[1][0]
    print(f"server-sent events: first after {first:.2f} s, second after {second:.1f} s")
    assert first < 5 and second > 60
    idler.join(IDLE_SECONDS + 30)
    assert idle == [200, 200], idle
