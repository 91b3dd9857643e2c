"""The agent end to end on a bootstrapped host: real Docker, HAProxy, nginx, store and agent.

Each test applies through the real API (through the load balancer), runs real agent passes
(`sws-agent run`, the repository's playbooks) and checks what answers on the HTTP port. The
installed cron agent is held off with its own cron.lock, so only the passes a test starts act.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
import requests
import yaml

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SWS_AGENT = str(Path(sys.executable).parent / "sws-agent")
HELLO = "sws-local/hello:2"
# The example app whose PID 1 ignores SIGTERM, as many real images' do (a Python or Node server
# started directly): `docker stop` waits its whole timeout (10 s) for it.
HELLO_NO_TERM = "sws-local/hello-noterm:2"


# hello.py handles SIGTERM itself; this one keeps it from installing its handler, and as PID 1
# without a handler the process never sees SIGTERM at all.
NO_TERM_DOCKERFILE = f"""FROM {HELLO}
STOPSIGNAL SIGTERM
CMD ["python3", "-c", "import runpy, signal; signal.signal = lambda *a: None; \\
runpy.run_path('/app/hello.py', run_name='__main__')"]
"""


def sigterm_ignoring_image() -> str:
    """HELLO whose PID 1 ignores the engine's default stop signal (SIGTERM)."""
    found = subprocess.run(["docker", "image", "inspect", HELLO_NO_TERM], capture_output=True)
    if found.returncode != 0:
        subprocess.run(
            ["docker", "build", "-q", "-t", HELLO_NO_TERM, "-"],
            input=NO_TERM_DOCKERFILE,
            text=True,
            capture_output=True,
            check=True,
        )
    return HELLO_NO_TERM


# The installed agent's backup settings, which a test agent takes over (agent_host).
BACKUP_KEYS = ("backups_dir", "backup_spool_dir", "backups_kept", "backups_group")

# What the last AgentHost.run_pass printed, for assertion messages (AgentHost.explain).
_LAST_PASS: list[str] = []


@dataclass
class AgentHost:
    """What the agent tests need of the bootstrapped host."""

    http: str  # the load balancer, e.g. http://127.0.0.1:80
    api_domain: str
    token: str
    database_url: str
    config: Path  # this test session's agent.yml (repository playbooks, own state dir)
    state_dir: Path
    proxies: list[str]
    socket: str

    # --- the API ---------------------------------------------------------------------------
    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Host": self.api_domain, "Authorization": f"Bearer {self.token}"}
        return requests.request(
            method, self.http + "/v1" + path, headers=headers, timeout=15, **kwargs
        )

    def apply(
        self, name: str, image: str = HELLO, port: int = 8080, env=None, volume=None, host=None
    ):
        spec = {
            "name": name,
            "port": port,
            "domain": host or domain(name),
            "image": image,
            "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
        }
        if volume:
            spec["volumeMount"] = volume
        answer = self.api("PUT", f"/services/{name}", json={"apiVersion": "v1", "spec": spec})
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    def certify(self, name: str, ca) -> dict:
        """Upload a certificate for the service's domain from the test CA `ca` (as `swsctl
        cert set` does); the API's answer (source, fingerprint, ...)."""
        issued = ca.issue(domain(name))
        answer = self.api(
            "PUT",
            f"/services/{name}/certificate",
            json={"certificate": issued.chain_pem, "key": issued.key_pem},
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def delete(self, name: str, purge: bool = False) -> None:
        answer = self.api("DELETE", f"/services/{name}" + ("?purge=true" if purge else ""))
        assert answer.status_code in (202, 404), answer.text

    def service(self, name: str) -> dict | None:
        answer = self.api("GET", f"/services/{name}")
        return answer.json() if answer.status_code == 200 else None

    # --- the agent -------------------------------------------------------------------------
    def run_pass(self, check: bool = True, **env) -> subprocess.CompletedProcess:
        """One pass of this session's agent. It waits for a pass another agent runs (exiting
        0 at once instead would look like a pass that did nothing); with check, a pass must
        have run and not failed."""
        result = subprocess.run(
            [SWS_AGENT, "run", "--wait", "--config", str(self.config)],
            capture_output=True,
            text=True,
            env=self.env(**env),
            timeout=300,
        )
        _LAST_PASS[:] = [result.stderr]
        if check:
            assert result.returncode == 0, result.stderr
            assert re.search(r" pass \d+ ", result.stderr), "no pass ran:\n" + result.stderr
        return result

    def settle(self, seconds: float = 60.0) -> dict:
        """Passes until no container stops in the background any more (a deleted service's
        record goes in the pass that sees its containers gone); what they changed, merged."""
        changed: dict = {}
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            last = self.last_passes()[0]["changed"] or {}
            if "stopping" not in last:
                break
            time.sleep(0.2)
            self.run_pass()
            changed.update(self.last_passes()[0]["changed"] or {})
        return changed

    def explain(self, name: str) -> str:
        """For an assertion's message: the service as the API shows it, the last passes and
        what the last run_pass printed."""
        passes = "\n".join(str(p) for p in self.last_passes(3))
        last = _LAST_PASS[0][-3000:] if _LAST_PASS else ""
        return f"service: {self.service(name)}\nlast passes:\n{passes}\nlast run_pass:\n{last}"

    def assert_running(self, name: str) -> None:
        assert (self.service(name) or {}).get("status") == "running", self.explain(name)

    def start_agent(self, *args: str, **env) -> subprocess.Popen:
        return subprocess.Popen(
            [SWS_AGENT, *args, "--config", str(self.config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(**env),
            start_new_session=True,
        )

    def env(self, **extra) -> dict:
        path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
        return {**os.environ, "PATH": path, **extra}

    def last_passes(self, n: int = 1) -> list[dict]:
        with psycopg2.connect(self.database_url) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT id, outcome, changed, message FROM agent_passes ORDER BY id DESC LIMIT %s",
                (n,),
            )
            rows = cur.fetchall()
        conn.close()
        return [dict(zip(("id", "outcome", "changed", "message"), r, strict=True)) for r in rows]

    # --- the data path ---------------------------------------------------------------------
    def get(self, name: str, host: str | None = None) -> requests.Response:
        headers = {"Host": host or domain(name)}
        return requests.get(self.http + "/", headers=headers, timeout=10)

    def proxy_file(self, proxy: str, path: str) -> str | None:
        result = subprocess.run(
            ["docker", "exec", proxy, "cat", f"/etc/nginx/sws/{path}"],
            capture_output=True,
            text=True,
        )
        return result.stdout if result.returncode == 0 else None

    def haproxy_states(self) -> dict[str, str]:
        from swsagent.observe import haproxy_server_states

        return haproxy_server_states(self.socket, "proxies")


def domain(name: str) -> str:
    return f"{name}.agent.test"


def docker(*args: str, check: bool = True) -> str:
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True).stdout


def containers_of(name: str) -> list[str]:
    return docker(
        "ps", "-a", "--format", "{{.Names}}", "--filter", f"label=sws.service={name}"
    ).split()


def containers_become(name: str, expected: list[str], seconds: float = 30) -> list[str]:
    """The service's containers once they are `expected` (an old generation is stopped and
    removed in the background after the pass), or as they are after `seconds`."""
    deadline = time.monotonic() + seconds
    while (found := containers_of(name)) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


_cron_lock = []


def hold_cron_off(path: Path) -> None:
    """Hold the installed agent's cron.lock until this process ends: its `flock -n` skips.

    Once a process: a second flock of the same file from this process would wait for itself
    (the agent_host fixture is imported by the other test_agent* modules too).
    """
    if _cron_lock:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    held = open(path, "a")  # noqa: SIM115 - kept open on purpose, for the whole session
    fcntl.flock(held, fcntl.LOCK_EX)
    _cron_lock.append(held)
    atexit.register(held.close)


def hold_installed_agent_off(state_dir: Path, database_url: str) -> None:
    """Pause the installed agent (its watch and cron passes) for the session, and wait for a
    pass it may be running: only the passes a test starts act."""
    from swsagent import pause
    from swsagent.lock import pass_lock

    pause.pause(state_dir, "e2e tests")
    atexit.register(pause.resume, state_dir)
    with pass_lock(database_url, wait=True, timeout=300):
        pass


def https_agent_settings(settings: dict) -> dict:
    """What agent.yml.j2 gives the host's agent for HTTPS, from sws.yml's settings: an agent
    with these installs the services' certificates in HAProxy (certs.py)."""
    return {
        "tls_dir": settings["sws_tls_host_dir"],
        "haproxy_tls_dir": settings["sws_haproxy_tls_dir"],
        "https_port": int(settings["sws_https_port"]),
        "api_domain": settings["sws_api_domain"],
    }


@pytest.fixture(scope="session")
def agent_host(bootstrapped_host, tmp_path_factory):
    """The bootstrapped host, with an agent config of this session and cron held off."""
    installed = bootstrapped_host.agent_config
    settings = bootstrapped_host.settings
    state = tmp_path_factory.mktemp("agent-state")
    config = state / "agent.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "database_url": installed["database_url"],
                "project_dir": str(REPO),
                "state_dir": str(state),
                "haproxy_socket": installed["haproxy_socket"],
                **(
                    {"host_settings": installed["host_settings"]}
                    if "host_settings" in installed
                    else {}
                ),
                "ready_timeout": 8,
                "drain_timeout": 5,
                "stop_timeout": 3,
                "full_pass_interval": 30,
                # Every pass probes health checks: the tests look right after one.
                "health_interval": 0,
                "names": installed.get("names", {}),
                # The installed agent's firewall setting: this session's passes check the
                # services' firewall rules as its passes do (test_firewall.py).
                "firewall": installed.get("firewall", False),
                # And its backups (issue 27): this session's passes take and restore them
                # where the apiserver streams them from (test_backups.py).
                **{key: installed[key] for key in BACKUP_KEYS if key in installed},
            }
        )
    )
    installed_state = Path(settings.get("sws_agent_state_dir", "/var/lib/sws/agent"))
    hold_cron_off(installed_state / "cron.lock")
    hold_installed_agent_off(installed_state, installed["database_url"])
    host = AgentHost(
        http=bootstrapped_host.base_url,
        api_domain=bootstrapped_host.api_domain,
        token=bootstrapped_host.admin_token,
        database_url=bootstrapped_host.database_url,
        config=config,
        state_dir=state,
        proxies=list(settings["sws_proxy_containers"]),
        socket=bootstrapped_host.haproxy_socket,
    )
    yield host
    for service in host.api("GET", "/services").json().get("services", []):
        if (service["spec"].get("domain") or "").endswith(".agent.test"):
            host.delete(service["name"])
    host.run_pass(check=False)


# Tests delete what they applied but leave the removal to the next test's pass (or the
# session's last one): a pass costs seconds, and removing is what every pass does anyway.


def test_apply_update_delete_through_the_load_balancer(agent_host):
    name = unique("web")
    secret = "s3cret-" + uuid.uuid4().hex
    trap = "{{ lookup('pipe','id') }}"
    agent_host.apply(name, env={"GREETING": "first", "TOKEN": secret, "TRAP": trap}, volume="/data")
    agent_host.run_pass()
    answer = agent_host.get(name)
    assert answer.status_code == 200 and json.loads(answer.text)["greeting"] == "first"
    agent_host.assert_running(name)
    env = json.loads(docker("inspect", f"sws-svc-{name}-1"))[0]["Config"]["Env"]
    assert f"TRAP={trap}" in env, "user env must reach the container verbatim"

    # A service with a volume is recreated (issue 24): the pass holds its route, stops the
    # old generation, starts the new one, and removes the old one once the new one is ready.
    agent_host.apply(
        name, env={"GREETING": "second", "TOKEN": secret, "TRAP": trap}, volume="/data"
    )
    agent_host.run_pass()
    agent_host.settle()
    assert json.loads(agent_host.get(name).text)["greeting"] == "second"
    assert containers_become(name, [f"sws-svc-{name}-2"]) == [f"sws-svc-{name}-2"]
    assert agent_host.service(name)["applied_generation"] == 2

    agent_host.delete(name)
    agent_host.run_pass()
    assert agent_host.get(name).status_code == 404
    assert containers_become(name, []) == []  # stopped and removed in the background
    agent_host.settle()  # its container stopped in the background; the next pass forgets it
    assert agent_host.service(name) is None
    assert docker("volume", "ls", "-q", "--filter", f"name={name}-volume").split() == [
        f"{name}-volume"
    ]
    docker("volume", "rm", f"{name}-volume")

    leaked = [
        p
        for p in agent_host.state_dir.rglob("*")
        if p.is_file() and secret in p.read_text(errors="ignore")
    ]
    assert leaked == [], "a secret env value reached the agent's artifacts"


def test_delete_purge_removes_the_volume_and_its_data(agent_host):
    name = unique("wipe")
    agent_host.apply(name, volume="/data")
    agent_host.run_pass()
    assert agent_host.get(name).status_code == 200
    container = f"sws-svc-{name}-1"
    write = "open('/data/notes.txt', 'w').write('kept until purged')"
    docker("exec", "-u", "0", container, "python3", "-c", write)
    assert docker("exec", container, "cat", "/data/notes.txt") == "kept until purged"

    agent_host.delete(name, purge=True)
    assert agent_host.service(name)["purge_volume"] is True
    agent_host.run_pass()
    assert agent_host.get(name).status_code == 404
    changed = agent_host.last_passes()[0]["changed"]
    assert containers_become(name, []) == []  # stopped and removed in the background
    changed.update(agent_host.settle())  # forgotten once its container is seen gone
    assert agent_host.service(name) is None
    assert docker("volume", "ls", "-q", "--filter", f"name={name}-volume").split() == []
    assert changed["purged"] == [name] and name in changed["forgotten"]


def test_nothing_changed_runs_no_playbook(agent_host):
    agent_host.run_pass()
    runs = list((agent_host.state_dir / "artifacts").glob("*"))
    agent_host.run_pass()
    assert agent_host.last_passes()[0]["outcome"] == "noop"
    assert list((agent_host.state_dir / "artifacts").glob("*")) == runs


def test_missing_image_fails_clearly_while_another_service_applies(agent_host):
    good, bad = unique("good"), unique("bad")
    agent_host.apply(bad, image="sws-local/no-such-image:1")
    agent_host.apply(good, env={"GREETING": "still fine"})
    agent_host.run_pass(check=False)
    failed = agent_host.service(bad)
    assert failed["status"] == "failed"
    assert "sws-local/no-such-image:1" in failed["message"]
    assert "not on this host" in failed["message"]
    assert len(failed["message"]) < 300
    assert agent_host.get(bad).status_code == 404
    assert json.loads(agent_host.get(good).text)["greeting"] == "still fine"
    agent_host.delete(bad)
    agent_host.delete(good)


def test_a_broken_route_never_goes_live(agent_host):
    # User input is validated, so no spec can make the renderer emit a config nginx refuses.
    # A file nginx refuses is put beside the first proxy's candidate routes instead (as a hand
    # edit would): its test.conf includes candidate/*.conf, the agent's route check does not.
    name = unique("broken")
    agent_host.run_pass()
    live_before = {p: agent_host.proxy_file(p, "live/routes.conf") for p in agent_host.proxies}
    first, second = agent_host.proxies[0], agent_host.proxies[1]
    candidate_before = agent_host.proxy_file(second, "candidate/routes.conf")
    broken = "/etc/nginx/sws/candidate/zz-broken.conf"
    docker("exec", first, "sh", "-c", f"echo 'this_directive_does_not_exist on;' > {broken}")

    agent_host.apply(name)
    try:
        result = agent_host.run_pass(check=False)
    finally:
        docker("exec", first, "rm", "-f", broken)
    assert result.returncode == 1
    last = agent_host.last_passes()[0]
    assert last["outcome"] == "failed" and "rejected the new routes" in last["message"]
    for proxy in agent_host.proxies:
        assert agent_host.proxy_file(proxy, "live/routes.conf") == live_before[proxy]
    assert agent_host.proxy_file(second, "candidate/routes.conf") == candidate_before
    assert set(agent_host.haproxy_states().values()) == {"ready"}
    assert agent_host.get(name).status_code == 404
    pending = agent_host.service(name)
    assert pending["status"] == "pending" and "rejected the new routes" in pending["message"]

    agent_host.run_pass()
    assert agent_host.get(name).status_code == 200
    agent_host.delete(name)


def test_a_pass_killed_mid_roll_is_repaired_by_the_next(agent_host):
    name = unique("killed")
    agent_host.apply(name, env={"GREETING": "survivor"})
    agent = agent_host.start_agent("run")
    deadline = time.monotonic() + 120
    # Kill it at the worst moment: while a proxy is drained in HAProxy.
    while time.monotonic() < deadline and agent.poll() is None:
        if "drain" in agent_host.haproxy_states().values():
            break
        time.sleep(0.02)
    assert agent.poll() is None, "the pass ended before a proxy was drained"
    os.killpg(agent.pid, signal.SIGKILL)
    agent.communicate()

    agent_host.run_pass()
    assert set(agent_host.haproxy_states().values()) == {"ready"}
    assert json.loads(agent_host.get(name).text)["greeting"] == "survivor"
    outcomes = [p["outcome"] for p in agent_host.last_passes(3)]
    assert "interrupted" in outcomes
    agent_host.delete(name)


def test_two_agents_started_together_do_not_both_act(agent_host):
    name = unique("twice")
    agent_host.apply(name)
    before = agent_host.last_passes()[0]["id"]
    agents = [agent_host.start_agent("run") for _ in range(2)]
    outputs = [a.communicate(timeout=300) for a in agents]
    assert [a.returncode for a in agents] == [0, 0], outputs
    passes = [p for p in agent_host.last_passes(5) if p["id"] > before]
    assert len(passes) == 1, passes
    assert any("another sws-agent pass is running" in err for _, err in outputs)
    assert containers_of(name) == [f"sws-svc-{name}-1"]
    assert agent_host.get(name).status_code == 200
    agent_host.delete(name)


def watcher_log(watcher: subprocess.Popen) -> str:
    os.killpg(watcher.pid, signal.SIGKILL)
    return "watch mode did not serve the service in time:\n" + watcher.communicate()[1]


def test_watch_mode_applies_without_waiting_for_cron(agent_host):
    name = unique("watched")
    watcher = agent_host.start_agent("watch")
    try:
        time.sleep(2)  # its first full pass
        agent_host.apply(name, env={"GREETING": "heard"})
        # The route goes live on one proxy, then the other: wait for the whole pass. The bounds
        # are generous on purpose: this checks that watch mode acts, bench/agent_latency.py how
        # fast (a pass takes 15-30 s on this machine, and the first full pass may run first).
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if (agent_host.service(name) or {}).get("status") == "running":
                break
            time.sleep(0.25)
        answer = agent_host.get(name)
        assert answer.status_code == 200, watcher_log(watcher)
        assert json.loads(answer.text)["greeting"] == "heard"
        agent_host.delete(name)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and agent_host.service(name) is not None:
            time.sleep(0.25)
        assert agent_host.service(name) is None
    finally:
        watcher.send_signal(signal.SIGTERM)
        try:
            watcher.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(watcher.pid, signal.SIGKILL)
            watcher.communicate()
