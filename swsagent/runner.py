"""Run a playbook with ansible-runner and turn its events into per-host outcomes.

The only module that imports ansible_runner. The inventory (it carries env values, which may be
secrets) lives in a private directory that is deleted after the run; the artifacts kept under
the state directory are scrubbed of every secret the caller names.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import ansible_runner

SCRUBBED = "********"
# Under the state directory (root only): each run's private directory (its inventory holds env
# values). Removed after the run; one left by a killed pass goes at the start of the next.
RUNS = "runs"
# The retire tasks whose result (`gone`: what it removed) reaches RunResult.retired: the
# host's containers (sws.host.service_retire) and the swarm's generation services.
RETIRE_ACTIONS = ("service_retire", "swarm_retire")


def remove_stale_runs(state_dir) -> list[str]:
    """Remove what killed passes left; call it holding the pass lock (no run is going on)."""
    runs = Path(state_dir) / RUNS
    stale = sorted(p.name for p in runs.iterdir()) if runs.is_dir() else []
    for name in stale:
        shutil.rmtree(runs / name, ignore_errors=True)
    return stale


@dataclass(frozen=True)
class HostFailure:
    message: str
    last_log: str | None = None
    play: str = ""  # the play it failed in


@dataclass
class RunResult:
    rc: int
    status: str
    ok: set[str] = field(default_factory=set)  # hosts that ran without failure
    failed: dict[str, HostFailure] = field(default_factory=dict)
    error: str | None = None  # the run itself broke (syntax, a crash): no host to blame
    ident: str = ""
    # host -> what its retire task did (sws.host.service_retire: gone, stopped, background,
    # volume_removed, problems)
    retired: dict[str, dict] = field(default_factory=dict)
    # host -> why its deploy started nothing yet (sws.host.service_container's `deferred`: a
    # recreate whose older generation is still stopping)
    deferred: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PlaybookRun:
    """What to run: the playbook under home/playbooks, on which hosts, with which variables."""

    playbook: str
    inventory_text: str
    limit: list[str]
    extravars: dict = field(default_factory=dict)
    secrets: frozenset[str] = frozenset()


def run_playbook(
    run: PlaybookRun,
    home: Path,
    state_dir: Path,
    forks: int = 10,
    timeout: int = 900,
    at_play: Callable[[str, list[dict]], bool] | None = None,
) -> RunResult:
    """Run it and wait; never raises for a failed play, only reports it.

    at_play(name, events so far) is called as each play starts; False stops the run there
    (status canceled)."""
    artifacts = Path(state_dir) / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    runs = Path(state_dir) / RUNS
    runs.mkdir(mode=0o700, exist_ok=True)
    private = Path(tempfile.mkdtemp(prefix="run-", dir=runs))
    ident = uuid.uuid4().hex[:12]
    try:
        inventory = _write_private_inventory(private, run)
        extravars = dict(run.extravars)
        events: list[dict] = []
        stop = []

        def on_event(event: dict) -> bool:
            events.append(event)
            if at_play and event.get("event") == "playbook_on_play_start" and not stop:
                data = event.get("event_data") or {}
                if not at_play(str(data.get("name") or data.get("play") or ""), events):
                    stop.append(True)
            return True

        runner = ansible_runner.run(
            private_data_dir=str(private),
            project_dir=str(Path(home) / "playbooks"),
            playbook=run.playbook,
            inventory=str(inventory),
            limit=",".join(run.limit),
            extravars=extravars,
            envvars=_envvars(home),
            roles_path=[str(Path(home) / "roles")],
            artifact_dir=str(artifacts),
            ident=ident,
            rotate_artifacts=50,
            suppress_env_files=True,
            forks=forks,
            quiet=True,
            timeout=timeout,
            event_handler=on_event,
            # Without a callback, ansible-runner installs its own SIGTERM/SIGINT handlers and
            # watch mode would no longer hear that it should stop.
            cancel_callback=lambda: bool(stop),
        )
        result = result_from_events(runner.rc, runner.status, events)
        result.ident = ident
        return result
    finally:
        shutil.rmtree(private, ignore_errors=True)
        scrub_secrets(artifacts / ident, run.secrets)


def _write_private_inventory(private: Path, run: PlaybookRun) -> Path:
    # The inventory alone: no group_vars. Names, paths and timeouts reach the plays only
    # inside sws_pass (swsagent/passvars.py, mapped by playbooks/vars/pass.yml).
    os.chmod(private, 0o700)
    inv_dir = private / "inventory"
    inv_dir.mkdir()
    inventory = inv_dir / "hosts.yml"
    inventory.write_text(run.inventory_text)
    return inventory


def _envvars(home: Path) -> dict[str, str]:
    # ansible-runner starts ansible-playbook from PATH: put this interpreter's bin first.
    bindir = os.path.dirname(sys.executable)
    return {
        "PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_HOST_KEY_CHECKING": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "ANSIBLE_CONFIG": str(Path(home) / "playbooks" / "ansible.cfg"),
    }


def result_from_events(
    rc: int, status: str, events: list[dict], partial: bool = False
) -> RunResult:
    """Per-host outcomes: the last failure message of each failed host, from runner events.

    partial: the run goes on (no stats yet): a host failed if a task failed on it, and is ok
    if a task ran on it."""
    result = RunResult(rc=rc if rc is not None else -1, status=status or "unknown")
    failures: dict[str, HostFailure] = {}
    last_logs: dict[str, str] = {}
    stats: dict = {}
    ran: set[str] = set()
    for event in events:
        data = event.get("event_data") or {}
        host = data.get("host")
        res = data.get("res") if isinstance(data.get("res"), dict) else {}
        play = str(data.get("play") or "")
        if res.get("last_log"):
            last_logs[host] = str(res["last_log"])
        # The swarm executor's retire (sws.host.swarm_retire) names the generation services it
        # removed in `gone` too: a deleted service is forgotten in the pass that removed it.
        if str(data.get("task_action", "")).endswith(RETIRE_ACTIONS) and "gone" in res:
            result.retired[host] = res
        if str(data.get("task_action", "")).endswith("service_container") and res.get("deferred"):
            result.deferred[host] = str(res["deferred"])
        if event.get("event") == "runner_on_failed" and not data.get("ignore_errors"):
            failures[host] = HostFailure(_short(res.get("msg") or "task failed"), play=play)
        elif event.get("event") == "runner_on_unreachable":
            failures[host] = HostFailure(_short(res.get("msg") or "unreachable"), play=play)
        elif event.get("event") == "playbook_on_stats":
            stats = data
        elif host and str(event.get("event", "")).startswith("runner_on_"):
            ran.add(host)
    if partial:
        stats = {"failures": dict.fromkeys(failures), "ok": dict.fromkeys(ran)}
    failed_hosts = set(stats.get("failures") or {}) | set(stats.get("dark") or {})
    for host in failed_hosts:
        failure = failures.get(host, HostFailure("failed"))
        result.failed[host] = HostFailure(failure.message, last_logs.get(host), failure.play)
    seen = set()
    for key in ("ok", "changed", "skipped", "rescued", "ignored"):
        seen |= set(stats.get(key) or {})
    result.ok = seen - failed_hosts
    if partial:
        return result
    if not stats or (result.rc != 0 and not result.failed):
        result.error = _run_error(events, status, rc)
    return result


def _run_error(events: list[dict], status: str, rc) -> str:
    for event in reversed(events):
        text = (event.get("stdout") or "").strip()
        if "ERROR!" in text or "[ERROR]" in text:
            return _short(text)
    return f"ansible-playbook ended with status {status} (rc {rc})"


def _short(message: str, limit: int = 300) -> str:
    message = " ".join(str(message).split())
    return message if len(message) <= limit else message[: limit - 3] + "..."


def scrub_secrets(directory: Path, secrets: frozenset[str]) -> None:
    """Replace every secret in the run's artifacts (belt and braces beside no_log)."""
    secrets = sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True)
    if not secrets or not directory.is_dir():
        return
    for path in directory.rglob("*"):
        if not path.is_file():
            continue
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        scrubbed = text
        for secret in secrets:
            scrubbed = scrubbed.replace(secret, SCRUBBED)
            # Events are JSON: a secret with quotes or backslashes appears escaped there.
            escaped = secret.encode("unicode_escape").decode().replace('"', '\\"')
            if escaped != secret:
                scrubbed = scrubbed.replace(escaped, SCRUBBED)
        if scrubbed != text:
            path.write_text(scrubbed)
