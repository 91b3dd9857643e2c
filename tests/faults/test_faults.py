"""Faults injected for real on the bootstrapped host while a load loop runs against a service
the fault does not concern (`steady`): the agent killed mid-pass, each proxy stopped, crashed
and with its route file removed, HAProxy restarted, the store paused and restarted mid-pass,
a missing image, a crash-looping service, two agents at once, a proxy that cannot be
recreated, and (only with SWS_FAULTS_DAEMON=1) the Docker daemon restarted.

Where one proxy stays up, not one request to the steady service may fail. Every fault adds a
row to the table (conftest.py): failed requests, the seconds until the steady service serves
again, and the seconds until the host converged after the fault ended, with passes started at
once as the watching agent would.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psycopg2
import pytest
import requests
import yaml

from tests.faults.harness import CLIENTS, Load, Row, docker, record, state_of, wait_for

pytestmark = pytest.mark.e2e

LOADBALANCER = "sws-loadbalancer"
_DAEMONS: list[subprocess.Popen] = []  # a restarted dockerd (SWS_FAULTS_DAEMON=1)
STORE = "sws-confdb"


def control_plane_up(host) -> bool:
    if any(state_of(c) != "running" for c in [LOADBALANCER, *host.proxies]):
        return False
    return set(host.haproxy_states().values()) == {"ready"}


def status(host, name: str) -> str | None:
    try:
        return (host.service(name) or {}).get("status")
    except requests.RequestException:
        return None  # the API itself is still coming back


def converge(host, since: float, running=(), passes: int = 4, check=None) -> tuple[float, str]:
    """Passes, one after another as the watching agent makes them, until the control plane is
    up, `running` services run and `check()` holds; the seconds from `since`, the outcomes."""
    outcomes = []
    for _ in range(passes):
        host.run_pass(check=False)
        outcomes.append(host.last_passes()[0]["outcome"])
        if (
            control_plane_up(host)
            and all(status(host, n) == "running" for n in running)
            and (check is None or check())
        ):
            return time.monotonic() - since, " → ".join(outcomes)
    raise AssertionError(f"the host did not converge in {passes} passes: {outcomes}")


def test_the_agent_sigkilled_mid_pass(agent_host, steady):
    name = "faults-killed"
    agent_host.apply(name, env={"GREETING": "survivor"})
    began = time.monotonic()
    agent = agent_host.start_agent("run")
    # The worst moment: a proxy drained in HAProxy, the roll half done.
    wait_for(lambda: "drain" in agent_host.haproxy_states().values() or agent.poll() is not None)
    assert agent.poll() is None, "the pass ended before a proxy was drained"
    os.killpg(agent.pid, signal.SIGKILL)
    agent.communicate()
    ended = time.monotonic()
    seconds, outcomes = converge(agent_host, ended, running=[name])
    failures = steady.failures(began)
    record(
        Row(
            "agent SIGKILLed mid-pass",
            len(failures),
            len(steady.since(began)),
            None,
            seconds,
            "interrupted → " + outcomes,
            "killed while a proxy was drained",
        )
    )
    assert failures == []
    assert agent_host.get(name).json()["greeting"] == "survivor"
    agent_host.delete(name)


def crash(container: str) -> None:
    """SIGKILL the container's main process from the host: a crash, not a `docker kill` (which
    Docker counts as a stop and does not restart)."""
    pid = int(docker("inspect", "-f", "{{.State.Pid}}", container).strip())
    os.kill(pid, signal.SIGKILL)


def remove_routes(container: str) -> None:
    docker("exec", container, "rm", "/etc/nginx/sws/live/routes.conf")


FAULTS = {
    "stopped": lambda p: docker("stop", p),
    "crashed (SIGKILL)": crash,
    "route file removed": remove_routes,
}


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("index", [0, 1])
def test_a_proxy_fault_while_the_other_serves(agent_host, steady, index, fault):
    proxy = agent_host.proxies[index]
    began = time.monotonic()
    FAULTS[fault](proxy)
    ended = time.monotonic()

    def routes_back() -> bool:
        return agent_host.proxy_file(proxy, "live/routes.conf") == agent_host.proxy_file(
            proxy, "live/routes.applied"
        )

    seconds, outcomes = converge(agent_host, ended, check=routes_back)
    failures = steady.failures(began)
    crashed = fault.startswith("crashed")
    record(
        Row(f"{proxy} {fault}", len(failures), len(steady.since(began)), None, seconds, outcomes)
    )
    if crashed:
        # A crash loses what was in flight on that proxy (HAProxy passes bytes, it cannot
        # replay a request): at most one request per client. Everything after goes elsewhere.
        assert len(failures) <= CLIENTS, failures
    else:
        assert failures == [], f"requests failed while the other proxy was up: {failures[:5]}"
    assert "faults-steady.agent.test" in agent_host.proxy_file(proxy, "live/routes.conf")


def test_haproxy_restarted(agent_host, steady):
    began = time.monotonic()
    docker("restart", LOADBALANCER)
    ended = time.monotonic()
    wait_for(lambda: steady.since(ended) and steady.since(ended)[-1][1], 30)
    seconds, outcomes = converge(agent_host, ended)
    failures = steady.failures(began)
    record(
        Row(
            "HAProxy restarted (docker restart)",
            len(failures),
            len(steady.since(began)),
            steady.serving_again(began),
            seconds,
            outcomes,
            "the only way in: requests fail while it restarts",
        )
    )


def timed(call):
    began = time.monotonic()
    try:
        result = call()
    except Exception as err:  # noqa: BLE001 - the figure is the point, whatever it raised
        result = type(err).__name__
    return time.monotonic() - began, result


def test_the_store_paused_for_30_s(agent_host, steady):
    began = time.monotonic()
    docker("pause", STORE)
    try:
        pass_seconds, result = timed(lambda: agent_host.run_pass(check=False))
        api_seconds, answer = timed(
            lambda: requests.get(
                agent_host.http + "/v1/services", headers=agent_host_headers(agent_host), timeout=10
            )
        )
        wait_for(lambda: time.monotonic() - began >= 30, 40, every=0.5)
    finally:
        docker("unpause", STORE)
    ended = time.monotonic()
    seconds, outcomes = converge(agent_host, ended)
    failures = steady.failures(began)
    code = getattr(answer, "status_code", answer)
    record(
        Row(
            "store paused 30 s",
            len(failures),
            len(steady.since(began)),
            None,
            seconds,
            outcomes,
            f"a pass meanwhile ended in {pass_seconds:.1f} s (exit "
            f"{getattr(result, 'returncode', result)}); the API answered {code} in "
            f"{api_seconds:.1f} s",
        )
    )
    assert failures == []
    assert pass_seconds < 60 and getattr(result, "returncode", None) == 1
    # Every endpoint answers 503 within 5 s: the apiserver's store calls have a client-side
    # deadline (SWS_DB_CALL_TIMEOUT, dbdeadline.py) and so does its connect.
    assert code == 503 and api_seconds < 5, (code, api_seconds)


def test_the_store_restarted_mid_pass(agent_host, steady):
    name = "faults-storerestart"
    agent_host.apply(name)
    began = time.monotonic()
    agent = agent_host.start_agent("run")
    wait_for(lambda: "drain" in agent_host.haproxy_states().values() or agent.poll() is not None)
    docker("restart", STORE)
    ended = time.monotonic()
    agent.communicate(timeout=300)
    assert wait_for(lambda: store_answers(agent_host), 120, every=0.5)
    interrupted = agent_host.last_passes(2)
    seconds, outcomes = converge(agent_host, ended, running=[name])
    failures = steady.failures(began)
    first = next((p["outcome"] for p in interrupted if p["outcome"] != "noop"), "?")
    record(
        Row(
            "store restarted mid-pass",
            len(failures),
            len(steady.since(began)),
            None,
            seconds,
            f"{first} → {outcomes}",
            f"the killed pass exited {agent.returncode}",
        )
    )
    assert failures == []
    assert agent_host.get(name).status_code == 200
    agent_host.delete(name)


def store_answers(host) -> bool:
    try:
        host.last_passes()
        return status(host, "faults-steady") == "running"
    except psycopg2.Error:
        return False


def agent_host_headers(host) -> dict:
    return {"Host": host.api_domain, "Authorization": f"Bearer {host.token}"}


def test_a_missing_image(agent_host, steady):
    name = "faults-noimage"
    agent_host.apply(name, image="sws-local/no-such-image:1")
    began = time.monotonic()
    agent_host.run_pass(check=False)
    seconds = time.monotonic() - began
    failed = agent_host.service(name)
    failures = steady.failures(began)
    record(
        Row(
            "missing image",
            len(failures),
            len(steady.since(began)),
            None,
            seconds,
            agent_host.last_passes()[0]["outcome"],
            "the service failed: " + failed["message"][:60] + "...",
        )
    )
    assert failures == []
    assert failed["status"] == "failed" and "not on this host" in failed["message"]
    agent_host.delete(name)


def test_a_crash_looping_generation_fails_while_the_previous_one_serves(agent_host, steady):
    name = "faults-crashloop"
    agent_host.apply(name, env={"GREETING": "previous"})
    agent_host.run_pass()
    own = Load(agent_host.http, f"{name}.agent.test")
    own.start()
    try:
        began = time.monotonic()
        # hello reads PORT as a number: this generation raises at start, again and again.
        agent_host.apply(name, env={"GREETING": "next", "PORT": "not-a-port"})
        agent_host.run_pass(check=False)
        seconds = time.monotonic() - began
    finally:
        own.finish()
    service = agent_host.service(name)
    failures, own_failures = steady.failures(began), own.failures(began)
    record(
        Row(
            "crash-looping service",
            len(failures),
            len(steady.since(began)),
            None,
            seconds,
            agent_host.last_passes()[0]["outcome"],
            f"its previous generation: {len(own_failures)} failed of {len(own.since(began))}",
        )
    )
    assert failures == [] and own_failures == []
    assert service["status"] == "failed", service
    assert "exited" in service["message"] and "restarted" in service["message"], service
    assert "ValueError" in (service["last_log"] or ""), service
    assert agent_host.get(name).json()["greeting"] == "previous"
    agent_host.delete(name)


def test_a_serving_container_that_fails_its_health_check_is_reported(agent_host, steady):
    name = "faults-health"
    spec = {
        "name": name,
        "port": 8080,
        "domain": f"{name}.agent.test",
        "image": "sws-local/hello:2",
        "healthCheck": {"path": "/healthz"},
    }
    answer = agent_host.api("PUT", f"/services/{name}", json={"apiVersion": "v1", "spec": spec})
    assert answer.status_code == 201, answer.text
    agent_host.run_pass()  # ready only once GET /healthz answered (sws_service_ready's path)
    agent_host.assert_running(name)
    container = f"sws-svc-{name}-1"
    began = time.monotonic()
    docker("pause", container)  # frozen: the port still accepts, nothing answers
    try:
        agent_host.run_pass(check=False)
        frozen = agent_host.service(name)
    finally:
        docker("unpause", container)
    ended = time.monotonic()
    seconds, outcomes = converge(
        agent_host, ended, running=[name], check=lambda: not agent_host.service(name)["message"]
    )
    failures = steady.failures(began)
    record(
        Row(
            "a serving container frozen (docker pause)",
            len(failures),
            len(steady.since(began)),
            None,
            seconds,
            outcomes,
            "its health check failed, reported in its message",
        )
    )
    assert failures == []
    assert frozen["status"] == "running", frozen
    assert frozen["message"].startswith("health check failed: GET /healthz gave no HTTP answer")
    agent_host.delete(name)


def test_two_agents_at_once(agent_host, steady):
    name = "faults-twice"
    agent_host.apply(name)
    before = agent_host.last_passes()[0]["id"]
    began = time.monotonic()
    agents = [agent_host.start_agent("run") for _ in range(2)]
    outputs = [a.communicate(timeout=300) for a in agents]
    seconds = time.monotonic() - began
    passes = [p for p in agent_host.last_passes(5) if p["id"] > before]
    failures = steady.failures(began)
    record(
        Row(
            "two agents at once",
            len(failures),
            len(steady.since(began)),
            None,
            seconds,
            " / ".join(p["outcome"] for p in passes),
            "one acted, the other found the lock",
        )
    )
    assert failures == [] and len(passes) == 1, outputs
    assert [a.returncode for a in agents] == [0, 0], outputs
    assert agent_host.get(name).status_code == 200
    agent_host.delete(name)


def test_a_proxy_that_cannot_be_recreated_degrades_the_host(agent_host, steady, bootstrapped_host):
    """sws-proxy-2 removed while its image is hidden (the tag moved away): the pass cannot
    recreate it, says so (outcome degraded, a user sees the line in `get`), and sws-proxy-1
    serves alone; with the image back, the next pass recreates it."""
    proxy, image = agent_host.proxies[1], bootstrapped_host.images["nginx"]
    hidden = image.replace(":", ":faults-hidden-")
    began = time.monotonic()
    docker("tag", image, hidden)
    try:
        docker("stop", proxy)  # gracefully: in-flight requests finish (a crash is tested above)
        docker("rm", proxy)
        docker("rmi", image)  # only the tag: the image stays under `hidden`
        agent_host.run_pass(check=False)
        last = agent_host.last_passes()[0]
        service = agent_host.service("faults-steady")
    finally:
        docker("tag", hidden, image)
        docker("rmi", hidden)
    ended = time.monotonic()
    seconds, outcomes = converge(agent_host, ended)
    failures = steady.failures(began)
    record(
        Row(
            f"{proxy} removed, its image gone",
            len(failures),
            len(steady.since(began)),
            None,
            seconds,
            f"{last['outcome']} → {outcomes}",
            "converged: once the image is back",
        )
    )
    assert failures == []
    assert last["outcome"] == "degraded", last
    assert f"{proxy} is missing and could not be recreated" in last["message"], last
    assert service["host_notice"].startswith(f"{proxy} is missing"), service
    assert "/" not in service["host_notice"]
    assert agent_host.service("faults-steady")["host_notice"] is None


@pytest.mark.skipif(
    os.environ.get("SWS_FAULTS_DAEMON") != "1",
    reason="restarts the Docker daemon for everyone on this engine: SWS_FAULTS_DAEMON=1",
)
def test_the_docker_daemon_restarted(agent_host, steady):
    """The host restores itself: Docker restarts every container (unless-stopped), each service
    may get another address, and the watching agent (reconnecting to the restarted store) rolls
    the routes. Meanwhile no service may claim `running` while its route is stale."""
    watcher = agent_host.start_agent("watch")
    try:
        wait_for(lambda: agent_host.last_passes()[0]["outcome"] != "running", 60)
        container = docker("ps", "-q", "--filter", "label=sws.service=faults-steady").split()[0]
        address = docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", container)
        began = time.monotonic()
        restart_dockerd()
        ended, back_at = time.monotonic(), time.time()
        # (seconds after the daemon was back, the agent's passes finished since, the answer)
        # while the API said `running` and the route failed.
        lies = []

        def restored() -> bool:
            answer = status(agent_host, "faults-steady")
            try:
                code = agent_host.get("faults-steady").status_code
            except requests.RequestException:
                code = None
            if answer == "running" and code != 200:
                lies.append((round(time.monotonic() - ended, 1), passes_since(back_at), code))
            return answer == "running" and code == 200 and control_plane_up(agent_host)

        assert wait_for(restored, 180, every=0.2)
        seconds = time.monotonic() - ended
    finally:
        watcher.send_signal(signal.SIGTERM)
        try:
            watcher.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(watcher.pid, signal.SIGKILL)
            watcher.communicate()
    moved = address != docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", container)
    record(
        Row(
            "Docker daemon restarted",
            len(steady.failures(began)),
            len(steady.since(began)),
            steady.serving_again(began),
            seconds,
            "watch mode",
            f"address {'changed' if moved else 'kept'}; `running` while failing: {len(lies)}"
            f" time(s){' ' + str(lies[:3]) if lies else ''}; daemon back in "
            f"{ended - began:.1f} s",
        )
    )
    # Before the agent's first pass after the restart nothing knows the routes are stale; from
    # then on the service is `pending` until its route is current again.
    assert not [lie for lie in lies if lie[1]], lies


def passes_since(wall: float) -> int | None:
    """Agent passes started after `wall` (time.time()) that have finished; None: no store."""
    from tests.e2e.conftest import load_settings

    url = yaml.safe_load(Path(load_settings()["sws_agent_config"]).read_text())["database_url"]
    try:
        with psycopg2.connect(url, connect_timeout=2) as conn, conn.cursor() as cur:
            cur.execute(
                """SELECT count(*) FROM agent_passes WHERE outcome <> 'running'
                   AND started_at > to_timestamp(%s)""",
                (wall,),
            )
            count = cur.fetchone()[0]
        conn.close()
        return count
    except psycopg2.Error:
        return None


def restart_dockerd() -> None:
    """Stop this host's dockerd (no systemd here) and start it again with the same arguments.

    Containers of others on this engine that were running and have no restart policy to bring
    them back are started again: the engine is shared, and this test must leave it as it was."""
    running = docker("ps", "-q", "--no-trunc").split()
    pid = int(
        subprocess.run(["pidof", "dockerd"], capture_output=True, text=True).stdout.split()[0]
    )
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    argv[0] = os.fsencode(shutil.which(os.fsdecode(argv[0])) or "/usr/sbin/dockerd")
    os.kill(pid, signal.SIGTERM)
    assert wait_for(lambda: not Path(f"/proc/{pid}").exists(), 120, every=0.2)
    with open("/var/log/dockerd.log", "ab") as log:
        # Kept for the whole session: the new dockerd outlives this test, and a handle
        # collected while it runs would warn (warnings are errors here).
        _DAEMONS.append(
            subprocess.Popen(
                argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
            )
        )
    assert wait_for(
        lambda: subprocess.run(["docker", "info"], capture_output=True).returncode == 0,
        120,
        every=0.5,
    )
    # Docker itself restarts those with a restart policy; the others only we can.
    for container in running:
        policy = docker(
            "inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", container, check=False
        )
        if policy.strip() in ("", "no"):
            docker("start", container, check=False)
