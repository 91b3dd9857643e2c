"""End-to-end fixtures: this machine's Docker engine bootstrapped into a real SWS host.

`bootstrapped_host` (session) runs `playbooks/bootstrap.yml` on `inventory/hosts-local.yml` with
ansible-playbook, converging from whatever a previous session left, and yields a
`BootstrappedHost`. The whole session holds an exclusive flock on /tmp/sws-e2e.lock (other
test sessions share the engine and the SWS names): a test that needs the lock must depend on
`sws_e2e_lock` (or `bootstrapped_host`) and never flock the file again in the same process.

The host is left running after the session, so the next one is cheap. Environment switches:
SWS_E2E_FRESH=1 tears it down (with purge) before bootstrapping, SWS_E2E_TEARDOWN=1 after
(SWS_E2E_TEARDOWN=purge: with purge, e.g. after a session whose store schema is newer).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
INVENTORY = REPO / "inventory" / "hosts-local.yml"
GROUP_VARS = REPO / "inventory" / "group_vars" / "all" / "sws.yml"
LOCK_PATH = "/tmp/sws-e2e.lock"


@dataclass
class PlaybookRun:
    """The outcome of one ansible-playbook run (from the json callback's stats)."""

    playbook: str
    rc: int
    seconds: float
    changed: int
    failures: list[str]
    output: str

    def check(self) -> PlaybookRun:
        if self.rc != 0:
            detail = "\n".join(self.failures) or self.output[-4000:]
            raise AssertionError(f"{self.playbook} failed (rc {self.rc}):\n{detail}")
        return self


@dataclass
class BootstrappedHost:
    """A running SWS host on this machine, as the bootstrap made it.

    settings: sws.yml merged with the local inventory's host variables (plain values only):
    every name (containers, networks, volumes, images) and the user settings.
    """

    settings: dict
    http_port: int
    api_domain: str
    admin_token: str
    agent_config: dict
    first_run: PlaybookRun
    images: dict = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        """The load balancer, on the published port (send the Host header you need)."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def api_headers(self) -> dict:
        """Headers that reach the apiserver through the load balancer, as the admin."""
        return {"Host": self.api_domain, "Authorization": f"Bearer {self.admin_token}"}

    @property
    def database_url(self) -> str:
        """The agent's URL of sws-confdb (127.0.0.1 and the published port)."""
        return self.agent_config["database_url"]

    @property
    def haproxy_socket(self) -> str:
        return self.agent_config["haproxy_socket"]

    def run_playbook(self, playbook: str = "bootstrap.yml", **extra_vars) -> PlaybookRun:
        """Run a playbook of this repository on this host again (not checked: see .check())."""
        return run_playbook(playbook, **extra_vars)


def load_settings() -> dict:
    """sws.yml plus the local inventory's host variables, skipping values that are Jinja."""
    settings = yaml.safe_load(GROUP_VARS.read_text())
    inventory = yaml.safe_load(INVENTORY.read_text())
    for group in inventory.values():
        for host_vars in (group.get("hosts") or {}).values():
            settings.update({k: v for k, v in (host_vars or {}).items() if not _is_template(v)})
    return settings


def image_names(settings: dict) -> dict:
    """Component -> image, as the bootstrap picks them (offline stand-ins or upstream pins)."""
    key = "sws_offline_images_names" if settings["sws_offline_images"] else "sws_upstream_images"
    return {**settings[key], "hello": settings["sws_hello_image"]}


def _is_template(value) -> bool:
    return isinstance(value, str) and "{{" in value


def run_playbook(playbook: str, **extra_vars) -> PlaybookRun:
    """ansible-playbook from this venv, with the json callback so changes can be counted."""
    bindir = Path(sys.executable).parent
    cmd = [
        str(bindir / "ansible-playbook"),
        "-i",
        str(INVENTORY),
        str(REPO / "playbooks" / playbook),
    ]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    env = {
        **os.environ,
        "PATH": f"{bindir}:{os.environ.get('PATH', '')}",
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
    }
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    changed, failures = _summarise(proc.stdout)
    return PlaybookRun(
        playbook, proc.returncode, seconds, changed, failures, proc.stdout + proc.stderr
    )


def _summarise(stdout: str) -> tuple[int, list[str]]:
    """Total changed tasks, and one line per failed task, from the json callback's report."""
    try:
        report = json.loads(stdout[stdout.index("{") :])
    except ValueError:
        return -1, []
    changed = sum(stats.get("changed", 0) for stats in report.get("stats", {}).values())
    failures = []
    for play in report.get("plays", []):
        for task in play.get("tasks", []):
            for host, result in task.get("hosts", {}).items():
                if result.get("failed") or result.get("unreachable"):
                    msg = result.get("msg") or result.get("stderr") or ""
                    failures.append(f"{host}: {task['task']['name']}: {msg}")
    return changed, failures


# tests/faults/conftest.py uses these session fixtures too, which makes them a second fixture
# of the same name there: both must share one lock and one host in a session that runs both
# folders (a second flock of the file from this process would wait for itself forever).
_session: dict = {}


@pytest.fixture(scope="session")
def sws_e2e_lock():
    """Hold /tmp/sws-e2e.lock for the session: one user of the engine's SWS names at a time."""
    if "lock" in _session:
        yield LOCK_PATH
        return
    with open(LOCK_PATH, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _session["lock"] = lock
        try:
            yield LOCK_PATH
        finally:
            del _session["lock"]
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def bootstrapped_host(sws_e2e_lock) -> BootstrappedHost:
    """A running SWS host: bootstrap.yml applied to this machine (see the module docstring)."""
    if "host" in _session:  # bootstrapped by the other folder's fixture of this session
        yield _session["host"]
        return
    if os.environ.get("SWS_E2E_FRESH") == "1":
        run_playbook("teardown.yml", sws_purge=True).check()
    first = run_playbook("bootstrap.yml").check()
    settings = load_settings()
    etc = Path(settings["sws_etc_dir"])
    host = BootstrappedHost(
        settings=settings,
        http_port=int(settings["sws_http_port"]),
        api_domain=settings["sws_api_domain"],
        admin_token=(etc / "admin-token").read_text().strip(),
        agent_config=yaml.safe_load(Path(settings["sws_agent_config"]).read_text()),
        first_run=first,
        images=image_names(settings),
    )
    _session["host"] = host
    yield host
    del _session["host"]
    if os.environ.get("SWS_E2E_TEARDOWN") == "1":
        run_playbook("teardown.yml").check()
    elif os.environ.get("SWS_E2E_TEARDOWN") == "purge":
        # Still under the session's lock: the next session never sees this one's store.
        run_playbook("teardown.yml", sws_purge=True).check()


def fixture_image(app_dir: Path, repository: str, base: str) -> str:
    """A test application's image (tests/fixtures/<app>: app.py and a Dockerfile FROM the
    host's Python image), built once per content: its tag is the hash of both files."""
    digest = hashlib.sha256(
        b"".join((app_dir / f).read_bytes() for f in ("app.py", "Dockerfile"))
    ).hexdigest()[:12]
    image = f"{repository}:{digest}"
    found = subprocess.run(["docker", "images", "-q", image], capture_output=True, text=True)
    if not found.stdout.strip():
        subprocess.run(
            ["docker", "build", "-q", "--build-arg", f"BASE={base}", "-t", image, str(app_dir)],
            check=True,
            capture_output=True,
        )
    return image
