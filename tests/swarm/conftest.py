"""The 3-node swarm of bin/swarm-fixture for one session, under a throwaway prefix, removed
at the end. Part of the full run; SWS_SWARM_TESTS=0 skips it: it starts Docker-in-Docker nodes
on the host's engine (about 25 s warm, a minute more the first time, for the node image)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.swarm.joining import join_twice

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "bin/swarm-fixture"
VENV_BIN = str(Path(sys.executable).parent)


def pytest_collection_modifyitems(config, items):
    # test_nodes.py kills node 3 and takes node 2 out of the swarm: it goes last, so every
    # other module finds the three nodes it was given.
    last = [item for item in items if "tests/swarm/test_nodes.py" in str(item.fspath)]
    rest = [item for item in items if item not in last]
    swarm = [i for i, item in enumerate(rest) if "tests/swarm/" in str(item.fspath)]
    if last and swarm:
        items[:] = rest[: swarm[-1] + 1] + last + rest[swarm[-1] + 1 :]
    if os.environ.get("SWS_SWARM_TESTS") != "0":
        return
    skip = pytest.mark.skip(reason="SWS_SWARM_TESTS=0: no Docker-in-Docker swarm this run")
    for item in items:
        if "tests/swarm/" in str(item.fspath):
            item.add_marker(skip)


def fixture_command(*args: str) -> dict:
    """bin/swarm-fixture's JSON answer; its progress (the image build) goes to stderr."""
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
    done = subprocess.run(
        [sys.executable, str(FIXTURE), *args], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    return json.loads(done.stdout[done.stdout.index("{") :])


@dataclass
class Swarm:
    prefix: str
    run_dir: Path
    inventory: Path
    manager_socket: str
    report_image: str
    # The same path on the host and in the manager node (its engine's data root is below it).
    manager_dir: Path
    timings: dict = field(default_factory=dict)

    def node(self, index: int) -> str:
        return f"{self.prefix}-node-{index}"

    def playbook(self, *args: str) -> subprocess.CompletedProcess:
        """playbooks/swarm.yml on the fixture's inventory (the nodes reached as containers)."""
        env = {
            **os.environ,
            "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
            "ANSIBLE_CONFIG": str(ROOT / "playbooks/ansible.cfg"),
        }
        command = ["ansible-playbook", "-i", str(self.inventory), "playbooks/swarm.yml", *args]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)


@pytest.fixture(scope="session")
def swarm():
    prefix = f"sws-swt-{secrets.token_hex(3)}"
    run_dir = Path("/tmp") / prefix
    started = time.monotonic()
    try:
        up = fixture_command("up", "--prefix", prefix, "--run-dir", str(run_dir))
        found = Swarm(
            prefix,
            run_dir,
            Path(up["inventory"]),
            up["manager_socket"],
            up["report_image"],
            Path(up["manager_dir"]),
        )
        found.timings = {"fixture up": round(time.monotonic() - started, 1), **up["timings"]}
        yield found
    finally:
        started = time.monotonic()
        fixture_command("down", "--prefix", prefix, "--run-dir", str(run_dir))
        print(f"\nswarm fixture down: {time.monotonic() - started:.1f} s")


@pytest.fixture(scope="session")
def joined(swarm):
    """The swarm after the join playbook ran twice: each run's changes per host (the nodes'
    tests check them; the executor's and the isolation tests need the joined swarm)."""
    return join_twice(swarm)
