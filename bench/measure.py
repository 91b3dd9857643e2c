"""What the data-path benches measure with: wrk's requests/s and p99, and CPU time (a
container's from its cgroup, a process's from /proc). Shared by datapath_ratio.py,
tls_edge.py and chain_variants.py so that their figures are read the same way.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

P99_SCALE = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(
    url: str,
    seconds: int,
    connections: int,
    threads: int = 2,
    host: str | None = None,
    close: bool = False,
    script: str | None = None,
) -> tuple[float, float]:
    """requests/s and p99 latency in ms. With close, every request is a new connection, and
    socket errors are tolerated (they count in no rate; the keep-alive runs before it would
    have failed on a broken handshake); otherwise any error ends the bench."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if host:
        cmd[1:1] = ["-H", f"Host: {host}"]
    if close:
        cmd[1:1] = ["-H", "Connection: close"]
    if script:
        cmd[1:1] = ["-s", script]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if re.search(r"Non-2xx or 3xx responses", out) or (
        errors and not close and any(int(n) for n in errors.groups())
    ):
        raise SystemExit(f"wrk saw errors ({url}):\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    return rate, float(p99.group(1)) * P99_SCALE[p99.group(2)]


def cgroup_cpu_file(cid: str) -> Path | None:
    """The file holding a container's CPU time: cgroup v1 cpuacct (ns) or v2 cpu.stat; None
    when this host accounts for neither."""
    for path in (
        Path(f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage"),
        Path(f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cpu.stat"),
        Path(f"/sys/fs/cgroup/docker/{cid}/cpu.stat"),
    ):
        if path.exists():
            return path
    return None


def cpu_us(source: Path | int) -> float:
    """CPU microseconds: a cgroup file (cgroup_cpu_file), or a process (pid) from /proc
    (utime + stime; 0 once it is gone)."""
    if isinstance(source, int):
        try:
            fields = Path(f"/proc/{source}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) * 1e6 / os.sysconf("SC_CLK_TCK")
    text = source.read_text()
    if source.name == "cpuacct.usage":
        return int(text) / 1000
    return float(text.split("usage_usec ")[1].split()[0])
