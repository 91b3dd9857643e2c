"""Take a service's containers away without holding the pass: what is already stopped goes at
once (milliseconds on the Engine API), what still runs is stopped and removed by a child process
of its own, so no pass waits for any container's stop timeout (an image whose PID 1 ignores
SIGTERM takes the whole timeout, 10 s by default).

The child runs `python -m ansible_collections.sws.host.plugins.module_utils.retire` with the
job as JSON on its standard input, in a session of its own: it outlives the playbook run. The
agent sees the containers go in its next observation; it forgets a deleted service only then.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ansible_collections.sws.host.plugins.module_utils import volumefs
from ansible_collections.sws.host.plugins.module_utils.engine import Engine, EngineError

# The directory that holds ansible_collections/: the child imports this package from it.
COLLECTIONS_ROOT = Path(__file__).resolve().parents[5]


@dataclass
class RetireJob:
    """What to take away: containers (stopped, then removed unless `stop_only`), and the
    service's volume when `purge_volume` names it (only once every container is gone, and only
    if it is labelled as this service's)."""

    service: str
    containers: list[str]
    # The pass always gives these (sws_pass): no second default here.
    stop_timeout: int
    label_prefix: str
    stop_only: bool = False  # an orphan in its grace: stopped, kept
    purge_volume: str = ""
    kill: bool = False  # an earlier try did not take it away in time: no grace now
    # At most `slots` containers of the host are stopped and removed at once, by all the
    # children together (flocks in slots_dir; "": no bound). A hundred removals at once left
    # an endpoint behind on the services network in Docker 20.10 (its "key modified" race),
    # and the network could not be removed until dockerd restarted.
    slots_dir: str = ""
    slots: int = 4


@dataclass
class Outcome:
    gone: list[str] = field(default_factory=list)  # removed now (or already absent)
    stopped: list[str] = field(default_factory=list)  # stopped now, kept (stop_only)
    background: list[str] = field(default_factory=list)  # still running: the child takes them
    volume_removed: bool = False
    problems: list[str] = field(default_factory=list)


def retire_now(engine: Engine, job: RetireJob) -> Outcome:
    """Everything that costs no stop timeout; what still runs is left in `background`."""
    out = Outcome()
    for name in job.containers:
        try:
            detail = engine.inspect(name)
            if detail is None:
                out.gone.append(name)
            elif (detail.get("State") or {}).get("Running") and not job.kill:
                out.background.append(name)
            elif job.stop_only:
                engine.stop(name, 0)
                out.stopped.append(name)
            else:
                engine.remove(name, force=True)
                out.gone.append(name)
        except EngineError as err:
            out.problems.append(f"{name}: {err}")
    if job.purge_volume and not out.background and not out.problems:
        _purge(engine, job, out)
    return out


def finish(engine: Engine, job: RetireJob, names: list[str]) -> Outcome:
    """The child's part: stop each running container within its timeout, then remove it."""
    out = Outcome()
    for name in names:
        try:
            with _slot(job.slots_dir, job.slots):
                engine.stop(name, job.stop_timeout)
                if not job.stop_only:
                    engine.remove(name, force=True)
            (out.stopped if job.stop_only else out.gone).append(name)
        except EngineError as err:
            out.problems.append(f"{name}: {err}")
    if job.purge_volume and not out.problems:
        _purge(engine, job, out)
    return out


@contextlib.contextmanager
def _slot(directory: str, slots: int):
    """Hold one of the host's `slots` removal slots (a flock on one of the files in directory,
    released when this process ends, however it ends) while the block runs."""
    if not directory or slots < 1:
        yield
        return
    os.makedirs(directory, mode=0o700, exist_ok=True)
    while True:
        for index in range(slots):
            fd = os.open(os.path.join(directory, f"slot-{index}"), os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield
            finally:
                os.close(fd)
            return
        time.sleep(0.05)


def _purge(engine: Engine, job: RetireJob, out: Outcome) -> None:
    try:
        volume = engine.volume(job.purge_volume)
        owner = ((volume or {}).get("Labels") or {}).get(f"{job.label_prefix}.service")
        # Only a volume labelled as this service's: one of the same name made by someone else
        # (or for another label prefix) is not ours to remove.
        if volume is not None and owner == job.service:
            # The Docker volume first (the engine refuses one still in use), then the
            # filesystem it bound (volumefs.py): unmounted, image and mountpoint deleted.
            fs = volumefs.VolumeFs.of_volume(volume)
            engine.remove_volume(job.purge_volume)
            if fs is not None:
                volumefs.remove(fs)
        out.volume_removed = True
    except EngineError as err:
        out.problems.append(f"volume {job.purge_volume} could not be removed: {err}")
    except volumefs.VolumeFsError as err:
        out.problems.append(f"volume {job.purge_volume}: {err}")


def launch(job: RetireJob, names: list[str]) -> int:
    """Start the child that stops and removes `names`; returns its pid (it is not waited for)."""
    env = {**os.environ, "PYTHONPATH": str(COLLECTIONS_ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-m", __name__],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
        close_fds=True,
    )
    child.stdin.write(json.dumps({"job": asdict(job), "names": names}).encode())
    child.stdin.close()
    return child.pid


def main() -> None:
    data = json.load(sys.stdin)
    finish(Engine(), RetireJob(**data["job"]), list(data["names"]))


if __name__ == "__main__":
    main()
