"""What a pass's run costs before its first play, side by side in one run (issue 23, item 3).

Variants, each timed from the call to the first play's start and to the run's end, in rounds
that alternate them (medians):

- `ansible-playbook` alone on an empty play (the floor: ansible-core's own start);
- the agent's runner (ansible-runner, the agent's ansible.cfg and environment) on an empty play;
- the agent's runner on reconcile.yml with nothing to do on the host it is limited to, with the
  project's group_vars symlinked into the run's inventory (as the agent runs it);
- the same without group_vars.

Then one cProfile of ansible-playbook on reconcile.yml (the third variant), its costliest
calls before the first play. Needs no bootstrapped host: every play is skipped.

    .venv/bin/python bench/ansible_start.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from swsagent.config import config_from_mapping  # noqa: E402
from swsagent.passvars import PassVars  # noqa: E402
from swsagent.render import inventory, inventory_yaml  # noqa: E402
from swsagent.runner import PlaybookRun, _envvars, run_playbook  # noqa: E402
from tests.fixtures.contract import in_repo, repo_names  # noqa: E402

EMPTY = "- hosts: all\n  gather_facts: false\n  tasks: []\n"


def pass_vars() -> dict:
    config = config_from_mapping(in_repo({"database_url": "x"}))
    what = PassVars.for_pass(
        config,
        revive=[],
        deploy=[],
        roll=[],
        retire=[],
        routes={"header": "", "slot": "", "entries": []},
    )
    return what.as_extravars()


def timed_runner(home: Path, playbook: str) -> tuple[float, float]:
    names = repo_names()
    run = PlaybookRun(
        playbook=playbook,
        inventory_text=inventory_yaml(inventory([], names)),
        limit=[names.proxies[0]],
        extravars=pass_vars(),
    )
    first: list[float] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as state:
        result = run_playbook(
            run,
            home,
            Path(state),
            at_play=lambda name, events: first.append(time.monotonic()) or True,
        )
    ended = time.monotonic()
    if result.error:
        raise SystemExit(f"the run failed: {result.error}")
    return (first[0] if first else ended) - started, ended - started


def timed_plain(playbook: Path, inventory_file: str = "localhost,", **env) -> tuple[float, float]:
    """ansible-playbook alone; the first play's start read from its own output."""
    extra = Path(tempfile.mkdtemp()) / "extra.json"
    extra.write_text(json.dumps(pass_vars()))
    started = time.monotonic()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            *("-i", inventory_file, "-e", f"@{extra}"),
            *(("-l", repo_names().proxies[0]) if inventory_file.endswith(".yml") else ()),
            str(playbook),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_NOCOLOR": "1", **env},
    )
    first = None
    for line in proc.stdout:
        if line.startswith("PLAY [") and first is None:
            first = time.monotonic() - started
    proc.wait()
    return first or 0.0, time.monotonic() - started


def pass_inventory(home: Path) -> str:
    path = home / "hosts.yml"
    path.write_text(inventory_yaml(inventory([], repo_names())))
    return str(path)


def profile(home: Path) -> None:
    """cProfile of ansible-playbook on reconcile.yml with nothing to do (as the agent runs it)."""
    names = repo_names()
    with tempfile.TemporaryDirectory() as tmp:
        inv = Path(tmp) / "hosts.yml"
        inv.write_text(inventory_yaml(inventory([], names)))
        extra = Path(tmp) / "extra.json"
        extra.write_text(json.dumps(pass_vars()))
        os.environ.update(_envvars(home))
        sys.argv = [
            "ansible-playbook",
            "-i",
            str(inv),
            "-l",
            names.proxies[0],
            "-e",
            f"@{extra}",
            str(home / "playbooks" / "reconcile.yml"),
        ]
        from ansible.cli.playbook import main as playbook_main

        profiler = cProfile.Profile()
        profiler.enable()
        try:
            playbook_main()
        except SystemExit:
            pass
        profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(35)


def make_home(home: Path, group_vars: bool) -> Path:
    """A project directory as the agent's (playbooks, roles, inventory), plus an empty play;
    without group_vars the run's inventory gets none (runner._write_private_inventory)."""
    (home / "playbooks").mkdir(parents=True)
    for entry in (REPO / "playbooks").iterdir():
        (home / "playbooks" / entry.name).symlink_to(entry)
    (home / "playbooks" / "empty.yml").write_text(EMPTY)
    (home / "roles").symlink_to(REPO / "roles")
    if group_vars:
        (home / "inventory").symlink_to(REPO / "inventory")
    return home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print the cProfile too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = make_home(Path(tmp) / "home", group_vars=True)
        bare = make_home(Path(tmp) / "bare", group_vars=False)
        inv = pass_inventory(Path(tmp))
        reconcile = home / "playbooks" / "reconcile.yml"
        variants = {
            "ansible-playbook alone, empty play": lambda: timed_plain(
                home / "playbooks" / "empty.yml"
            ),
            "ansible-playbook, reconcile.yml, every inventory plugin": lambda: timed_plain(
                reconcile, inv
            ),
            "ansible-playbook, reconcile.yml, the yaml inventory plugin only": lambda: timed_plain(
                reconcile, inv, ANSIBLE_INVENTORY_ENABLED="yaml"
            ),
            "agent's runner, empty play": lambda: timed_runner(home, "empty.yml"),
            "agent's runner, reconcile.yml, with group_vars": lambda: timed_runner(
                home, "reconcile.yml"
            ),
            "agent's runner, reconcile.yml, no group_vars": lambda: timed_runner(
                bare, "reconcile.yml"
            ),
        }
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
        for _ in range(args.rounds):
            for name, variant in variants.items():
                times[name].append(variant())
        print(f"before the first play / whole run, medians of {args.rounds} rounds:")
        for name, pairs in times.items():
            first = statistics.median(p[0] for p in pairs)
            whole = statistics.median(p[1] for p in pairs)
            print(f"  {name}: {first:.2f} s / {whole:.2f} s")
        if args.profile:
            profile(home)


if __name__ == "__main__":
    main()
