"""Find the route blocks nginx refuses, so one service's route fails alone.

The API validates every domain, and the proxies' nginx.conf is sized for every domain it
accepts; this is the guard for what is left (a limit nobody foresaw). All routes are tested
together first, with one `nginx -t` in a proxy; only when nginx refuses them are the blocks
tested one by one and then added one at a time (blocks already live first), still within that
one exec: the blocks nginx refuses alone, or that break the set they join, are the offenders,
each with nginx's own `[emerg]` line.

The test runs against the proxy's test.conf (the candidate configuration) with its include
pointed at a scratch directory in the container's /tmp: nothing in the proxy's configuration
volume is written.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from swsagent.proxyfiles import ProxyFiles

_MARK = "SWS-ROUTECHECK"
_EOF = "SWS_ROUTECHECK_BLOCK_END"


class RouteCheckError(RuntimeError):
    """The check itself could not run (the proxy is gone, docker failed)."""


@dataclass(frozen=True)
class Block:
    key: str  # who owns the block (a service name)
    text: str


def refused_blocks(
    blocks: list[Block],
    exec_prefix: list[str],
    files: ProxyFiles,
    one_by_one: bool = False,
    timeout: float = 120,
) -> dict[str, str]:
    """{key: nginx's [emerg] line} for each block nginx refuses; {} when all pass together.

    exec_prefix runs `sh -s` in a container of the proxy image, e.g.
    ["docker", "exec", "-i", "sws-proxy-1"]. one_by_one: test each block alone (and added one
    at a time) even when they pass together (the property test does).
    """
    if not blocks:
        return {}
    script = _script(blocks, files, one_by_one)
    try:
        result = subprocess.run(
            [*exec_prefix, "sh", "-s"],
            input=script,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise RouteCheckError(f"could not test the routes: {err}") from None
    return _parse(result, blocks)


def _script(blocks: list[Block], files: ProxyFiles, one_by_one: bool = False) -> str:
    test_conf = files.test_conf
    # Block texts are rendered by render.py from validated input: no line equals _EOF, and the
    # quoted here-document delimiter keeps the shell from expanding anything in them.
    lines = [
        "set -u",
        "d=$(mktemp -d /tmp/sws-routecheck.XXXXXX) || exit 3",
        "trap 'rm -rf \"$d\"' EXIT",
        f"[ -r {test_conf} ] || {{ echo '{_MARK} NOCONF'; exit 0; }}",
    ]
    for i, block in enumerate(blocks):
        lines += [f"cat > \"$d/{i}.conf\" <<'{_EOF}'", block.text.rstrip("\n"), _EOF]
    include = files.candidate_include.replace("*", r"\*")
    stop = "" if one_by_one else "exit 0; "
    lines += [
        # t FILE: nginx -t of the candidate configuration with only FILE's routes.
        "t() {",
        f'  sed "s#include {include};#include $1;#" {test_conf} > "$d/main.conf"',
        '  out=$(nginx -t -q -c "$d/main.conf" 2>&1) && return 0',
        "  printf '%s\\n' \"$out\" | grep -m1 '\\[emerg\\]' || printf '%s\\n' \"$out\" | tail -n1",
        "  return 1",
        "}",
        f'cat {" ".join(f"$d/{i}.conf" for i in range(len(blocks)))} > "$d/all"',
        f"if t \"$d/all\" >/dev/null; then echo '{_MARK} ALL-OK'; {stop}fi",
        ': > "$d/acc"',
        f"for i in $(seq 0 {len(blocks) - 1}); do",
        '  if ! msg=$(t "$d/$i.conf"); then',
        f'    echo "{_MARK} REFUSED $i $msg"; continue',
        "  fi",
        '  cat "$d/acc" "$d/$i.conf" > "$d/try"',
        '  if msg=$(t "$d/try"); then mv "$d/try" "$d/acc"; else',
        f'    echo "{_MARK} REFUSED $i $msg"',
        "  fi",
        "done",
        f"echo '{_MARK} DONE'",
    ]
    return "\n".join(lines) + "\n"


def _parse(result: subprocess.CompletedProcess, blocks: list[Block]) -> dict[str, str]:
    refused: dict[str, str] = {}
    all_ok = done = False
    for line in result.stdout.splitlines():
        if not line.startswith(_MARK + " "):
            continue
        word, _, rest = line[len(_MARK) + 1 :].partition(" ")
        if word == "NOCONF":
            raise RouteCheckError("could not test the routes: the proxy has no test.conf")
        all_ok |= word == "ALL-OK"
        done |= word == "DONE"
        if word == "REFUSED":
            index, _, message = rest.partition(" ")
            refused.setdefault(blocks[int(index)].key, emerg_line(message))
    if done:
        return refused
    if all_ok:
        return {}
    detail = (result.stderr or result.stdout).strip().splitlines()
    raise RouteCheckError(
        "could not test the routes: " + (detail[-1] if detail else f"exit {result.returncode}")
    )


_PREFIX = re.compile(r"^(nginx: )?(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d )?")
_WHERE = re.compile(r" in /tmp/sws-routecheck\.[^ ]*$")


def emerg_line(message: str) -> str:
    """nginx's own line, without its timestamp and the scratch file's name."""
    line = _PREFIX.sub("", message.strip())
    line = re.sub(r"^(\[\w+\] )\d+#\d+: ", r"\1", line)
    return _WHERE.sub("", line)[:300]
