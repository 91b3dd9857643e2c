"""Starting a service container inside an ansible-runner run: community.docker.docker_container
(the deploy before issue 23) against sws.host.service_container (the Engine API, in the
controller's process), side by side in one run, the same image and the same containment,
labels and volume owner check.

Each round starts one container with each (alternating which goes first) and removes both; the
task's own duration comes from the runner's events (`duration` of runner_on_ok). For the
community module the readiness wait is a task of its own, as the deploy had it
(sws.host.service_ready); sws.host.service_container includes it. Needs the Docker engine and
the image (`make up` builds it), not a bootstrapped host.

    .venv/bin/python bench/container_start.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import ansible_runner
import yaml

REPO = Path(__file__).resolve().parents[1]
IMAGE = "sws-local/hello:2"
NETWORK = "sws-bench-start"
LABELS = {"sws-bench.service": "start", "sws-bench.generation": "1"}
COMMON = {"memory": 268435456, "cpus": "0.5", "pids": 256}
CAPS = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID", "NET_BIND_SERVICE", "KILL"]


def community_tasks(name: str) -> list[dict]:
    """What roles/sws_service/tasks/deploy.yml ran before: volume check, create, start, wait."""
    return [
        {
            "name": "community: look at the volume",
            "community.docker.docker_volume_info": {"name": f"{name}-volume"},
        },
        {
            "name": "community: create the volume",
            "community.docker.docker_volume": {"name": f"{name}-volume", "labels": LABELS},
        },
        {
            "name": "community: start the container",
            "community.docker.docker_container": {
                "name": name,
                "image": IMAGE,
                "pull": "never",
                "state": "started",
                "restart_policy": "unless-stopped",
                "stop_timeout": 10,
                "network_mode": NETWORK,
                "networks": [{"name": NETWORK}],
                "labels": LABELS,
                "env": {"GREETING": "bench"},
                "mounts": [{"type": "volume", "source": f"{name}-volume", "target": "/data"}],
                "cap_drop": ["ALL"],
                "capabilities": CAPS,
                "security_opts": ["no-new-privileges"],
                "memory": str(COMMON["memory"]),
                "memory_swap": str(COMMON["memory"]),
                "cpus": 0.5,
                "pids_limit": 256,
                "log_driver": "json-file",
                "log_options": {"max-size": "10m", "max-file": "2"},
            },
        },
        {
            "name": "community: wait until it accepts connections",
            "sws.host.service_ready": {
                "container": name,
                "network": NETWORK,
                "port": 8080,
                "timeout": 30,
            },
        },
    ]


def ours_tasks(name: str) -> list[dict]:
    return [
        {
            "name": "ours: start the container and wait until it accepts connections",
            "vars": {"bench_env": {"GREETING": "bench"}},
            "sws.host.service_container": {
                "container": name,
                "service": name,
                "generation": 1,
                "digest": "bench",
                "domain": "bench.test",
                "port": 8080,
                "image": IMAGE,
                "owner": "bench",
                "containment": "bench",
                "network": NETWORK,
                "label_prefix": "sws-bench",
                "env_from": "bench_env",
                "volume_mount": "/data",
                "capabilities": CAPS,
                **COMMON,
            },
        }
    ]


def one_round(home: Path, first: str) -> dict[str, float]:
    tasks = {"community": community_tasks("bench-cd"), "ours": ours_tasks("bench-ours")}
    order = [first, *(k for k in tasks if k != first)]
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "vars": {"ansible_python_interpreter": sys.executable},
            "tasks": [t for k in order for t in tasks[k]],
        }
    ]
    (home / "project" / "bench.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    runner = ansible_runner.run(
        private_data_dir=str(home),
        playbook="bench.yml",
        inventory="localhost ansible_connection=local",
        quiet=True,
        envvars={
            "ANSIBLE_COLLECTIONS_PATH": str(REPO / "playbooks" / "collections"),
            # ansible-runner starts ansible-playbook from PATH (this interpreter's bin first).
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        },
    )
    took = {"community": 0.0, "ours": 0.0}
    for event in runner.events:
        data = event.get("event_data") or {}
        if event.get("event") == "runner_on_ok":
            took[data["task"].split(":")[0]] += float(data.get("duration") or 0)
        elif event.get("event") == "runner_on_failed":
            raise SystemExit(f"{data.get('task')}: {(data.get('res') or {}).get('msg')}")
    return took


def cleanup() -> None:
    for name in ("bench-cd", "bench-ours"):
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        subprocess.run(["docker", "volume", "rm", "-f", f"{name}-volume"], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    subprocess.run(["docker", "network", "create", NETWORK], capture_output=True)
    samples: dict[str, list[float]] = {"community": [], "ours": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            (home / "project").mkdir()
            for n in range(args.rounds):
                cleanup()
                took = one_round(home, "community" if n % 2 == 0 else "ours")
                for key, seconds in took.items():
                    samples[key].append(seconds)
                c, o = took["community"], took["ours"]
                print(f"  round {n + 1}: community {c:.2f} s, ours {o:.2f} s", flush=True)
    finally:
        cleanup()
        subprocess.run(["docker", "network", "rm", NETWORK], capture_output=True)
    c, o = statistics.median(samples["community"]), statistics.median(samples["ours"])
    print(f"volume check + start + readiness, medians of {args.rounds} rounds in one run:")
    print(f"  community.docker (volume_info, volume, docker_container) + service_ready: {c:.2f} s")
    print(f"  sws.host.service_container (all of it, one task): {o:.2f} s ({c / o:.1f}x faster)")


if __name__ == "__main__":
    main()
