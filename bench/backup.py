"""How fast a volume is backed up (issue 27): a 1 GB Docker volume (`wtbak-bench-volume`,
half random bytes, half text-like data, in files of 8 MB) copied by the agent's own helper
(swsagent/backupcopy.py: tar | tee + sha256sum, no compression), timed from the helper's start
to its exit, and the same through gzip -1 and gzip -6 for comparison.
Prints MB/s of volume data. Everything it makes is removed at the end.

    .venv/bin/python bench/backup.py [--size-mb 1024]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from swsagent import backupcopy, collection

IMAGE = "sws-local/python:3.11-1"
VOLUME = "wtbak-bench-volume"
FILL = (
    "cd /data && n=$((SIZE_MB / 16)) && for i in $(seq 1 $n); do "
    "head -c 8388608 /dev/urandom > r$i; "
    "yes 'INSERT INTO t VALUES (42, now(), some text that repeats);' | head -c 8388608 > t$i; "
    "done"
)
VARIANTS = {"no compression": None, "gzip -1": "gzip -1", "gzip -6 (default)": "gzip -6"}


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout


def copy_once(engine, out_dir: str, compressor: str, op_id: int) -> tuple[float, int]:
    body = backupcopy.copy_body(IMAGE, VOLUME, out_dir, op_id, {"wtbak.bench": "1"})
    if compressor:
        body["Entrypoint"][2] = body["Entrypoint"][2].replace(" . |", f" . | {compressor} |")
    name = f"wtbak-bench-copy-{op_id}"
    started = time.monotonic()
    backupcopy.start(engine, name, body)
    while not backupcopy.outcome(engine.inspect(name))[0]:
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    code = backupcopy.outcome(engine.inspect(name))[1]
    engine.remove(name, force=True)
    assert code == 0, f"the copy exited with {code}"
    return elapsed, (Path(out_dir) / backupcopy.partial_name(op_id)).stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024)
    args = parser.parse_args()
    engine = collection.engine().Engine(timeout=600)
    docker("volume", "create", VOLUME)
    out = tempfile.mkdtemp(prefix="wtbak-bench-")
    try:
        docker("run", "--rm", "-e", f"SIZE_MB={args.size_mb}", "-v", f"{VOLUME}:/data",
               IMAGE, "bash", "-c", FILL)  # fmt: skip
        for op_id, (label, compressor) in enumerate(VARIANTS.items(), start=1):
            elapsed, size = copy_once(engine, out, compressor, op_id)
            rate = args.size_mb / elapsed
            print(f"{label:18} {args.size_mb} MB in {elapsed:5.1f} s: {rate:6.0f} MB/s, "
                  f"file {size / 2**20:.0f} MB")  # fmt: skip
    finally:
        subprocess.run(["rm", "-rf", out])
        subprocess.run(["docker", "volume", "rm", "-f", VOLUME], capture_output=True)


if __name__ == "__main__":
    main()
