"""The bootstrapped host as the agent benches use it: the engine lock, cron held off, an agent
config of this run (the repository's playbooks, a throwaway state directory), the API.

The host is bootstrapped (converged) first, under the lock, as the e2e tests do.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.conftest import run_playbook  # noqa: E402
from tests.e2e.test_agent import (  # noqa: E402
    AgentHost,
    hold_cron_off,
    hold_installed_agent_off,
)

ENGINE_LOCK = "/tmp/sws-e2e.lock"
# Set to 1 by a caller that holds ENGINE_LOCK for several benches in a row, e.g.
#   flock /tmp/sws-e2e.lock env SWS_BENCH_LOCK_HELD=1 sh -c 'bench/a.py; bench/b.py'
# (a second flock from a child process would wait for its parent forever).
LOCK_HELD_ENV = "SWS_BENCH_LOCK_HELD"


@contextlib.contextmanager
def bench_host(**agent_settings) -> Iterator[AgentHost]:
    settings = yaml.safe_load((REPO / "inventory/group_vars/all/sws.yml").read_text())
    with open(ENGINE_LOCK, "a") as lock, tempfile.TemporaryDirectory(prefix="sws-bench-") as tmp:
        if os.environ.get(LOCK_HELD_ENV) != "1":
            print("waiting for the engine lock...", file=sys.stderr, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        # Converge the host first (quick when it runs): another session may have torn it down.
        print(
            "bootstrapping the host (converges in seconds when it is up)...",
            file=sys.stderr,
            flush=True,
        )
        run_playbook("bootstrap.yml").check()
        installed = yaml.safe_load(Path(settings["sws_agent_config"]).read_text())
        hold_cron_off(Path(settings["sws_agent_state_dir"]) / "cron.lock")
        hold_installed_agent_off(Path(settings["sws_agent_state_dir"]), installed["database_url"])
        config = Path(tmp) / "agent.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "database_url": installed["database_url"],
                    "project_dir": str(REPO),
                    "state_dir": tmp,
                    "haproxy_socket": installed["haproxy_socket"],
                    **(
                        {"host_settings": installed["host_settings"]}
                        if "host_settings" in installed
                        else {}
                    ),
                    "names": installed.get("names", {}),
                    **agent_settings,
                }
            )
        )
        yield AgentHost(
            http=f"http://127.0.0.1:{settings['sws_http_port']}",
            api_domain=settings["sws_api_domain"],
            token=Path(settings["sws_etc_dir"], "admin-token").read_text().strip(),
            database_url=installed["database_url"],
            config=config,
            state_dir=Path(tmp),
            proxies=list(settings["sws_proxy_containers"]),
            socket=installed["haproxy_socket"],
        )


@contextlib.contextmanager
def watching_agent(host: AgentHost) -> Iterator[None]:
    """`sws-agent watch` of this bench's config for the block's time (after its first full
    pass), stopped as the installed one stops: SIGTERM, then SIGKILL if it does not end."""
    watcher = host.start_agent("watch")
    try:
        time.sleep(3)  # its first full pass
        yield
    finally:
        watcher.send_signal(signal.SIGTERM)
        try:
            watcher.communicate(timeout=120)
        except Exception:
            os.killpg(watcher.pid, signal.SIGKILL)
            watcher.communicate()


def remove_services(host: AgentHost, prefix: str) -> None:
    # One page of the largest size: more than any bench applies.
    for service in host.api("GET", "/services?limit=500").json().get("services", []):
        if service["name"].startswith(prefix):
            host.delete(service["name"])
    host.run_pass(check=False)
