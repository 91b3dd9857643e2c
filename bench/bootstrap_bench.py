"""Measure the bootstrap on this machine and print the figures: the wall time of a cold run (no
SWS images, no host state: everything built and installed), of a warm run (nothing to change),
and the control plane's idle memory (all SWS containers together, from `docker stats`).

    .venv/bin/python bench/bootstrap_bench.py            # cold, then warm, then memory
    .venv/bin/python bench/bootstrap_bench.py --warm     # skip the cold run (keeps the host)

The cold run purges the host (teardown with sws_purge=true: the store's data, /etc/sws, the
agent's venv) and removes the SWS images and the controller's wheelhouse; pip's own cache is
kept. It holds /tmp/sws-e2e.lock throughout, like the e2e tests.
"""

from __future__ import annotations

import argparse
import fcntl
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.conftest import LOCK_PATH, image_names, load_settings, run_playbook  # noqa: E402

UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "kB": 10**3, "MB": 10**6, "GB": 10**9}


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False).stdout


def remove_sws_images(settings: dict) -> None:
    """Every image the bootstrap builds: offline stand-ins (and their rootfs), hello, apiserver."""
    refs = list(image_names(settings).values())
    refs += [f"{ref}-rootfs" for ref in settings["sws_offline_images_names"].values()]
    repo = settings["sws_apiserver_image_repository"]
    refs += docker("images", "--format", "{{.Repository}}:{{.Tag}}", repo).split()
    present = [r for r in refs if docker("image", "inspect", "--format", "x", r).strip()]
    if present:
        subprocess.run(["docker", "rmi", "--force", *present], capture_output=True, check=False)


def control_plane_memory(settings: dict) -> dict[str, float]:
    """Container -> memory in MiB, from one `docker stats --no-stream`."""
    names = [
        settings["sws_confdb_container"],
        settings["sws_apiserver_container"],
        settings["sws_loadbalancer_container"],
        *settings["sws_proxy_containers"],
    ]
    out = docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", *names)
    memory = {}
    for line in out.splitlines():
        name, usage = line.split(" ", 1)
        memory[name] = to_mib(usage.split("/")[0].strip())
    return memory


def to_mib(text: str) -> float:
    for unit in sorted(UNITS, key=len, reverse=True):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * UNITS[unit] / 2**20
    raise ValueError(f"unknown memory figure {text!r}")


def timed_bootstrap(label: str) -> float:
    run = run_playbook("bootstrap.yml").check()
    print(f"{label:<28} {run.seconds:7.1f} s   ({run.changed} changed tasks)", flush=True)
    return run.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", action="store_true", help="skip the cold run")
    parser.add_argument("--settle", type=float, default=15.0, help="seconds idle before stats")
    args = parser.parse_args()
    settings = load_settings()
    with open(LOCK_PATH, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not args.warm:
            run_playbook("teardown.yml", sws_purge=True).check()
            remove_sws_images(settings)
            shutil.rmtree(REPO / "wheelhouse", ignore_errors=True)
            timed_bootstrap("cold bootstrap (no images)")
        else:
            timed_bootstrap("bootstrap (converge)")
        timed_bootstrap("warm bootstrap (no change)")
        time.sleep(args.settle)
        memory = control_plane_memory(settings)
    for name, mib in sorted(memory.items()):
        print(f"  {name:<26} {mib:7.1f} MiB")
    print(
        f"{'control plane idle memory':<28} {sum(memory.values()):7.1f} MiB "
        f"({len(memory)} containers, docker stats --no-stream)"
    )


if __name__ == "__main__":
    main()
