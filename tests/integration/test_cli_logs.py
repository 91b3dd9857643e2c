"""swsctl logs and swsctl ls -w against a real apiserver (gunicorn) and PostgreSQL.

The log shipper's lines are written with its own insert (it is tested against Docker in
test_logship.py); the service is applied through swsctl as a user would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

from tests.integration import test_cli_commands as cli_tests
from tests.integration.test_api_logs import add_lines

# The swsctl tests' fixtures: a live apiserver for the module, and a fresh user per test.
api = cli_tests.api
user = cli_tests.user
other_user = cli_tests.other_user
swsctl, write_definition = cli_tests.swsctl, cli_tests.write_definition

WAIT = 30
SWSCTL = os.path.join(os.path.dirname(sys.executable), "swsctl")


def applied(user, tmp_path):
    assert swsctl(["apply", write_definition(tmp_path / "web.yaml", user)], user.env).exit_code == 0
    return user.service_name()


def test_logs_prints_every_kept_line_or_the_tail(user, other_user, tmp_path):
    name = applied(user, tmp_path)
    add_lines(user.api.database_url, [f"line {i}" for i in range(1500)], name=name)
    add_lines(user.api.database_url, ["an error"], name=name, stream="stderr")
    result = swsctl(["logs", name], user.env)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"line {i}" for i in range(1500)]  # two pages
    assert result.stderr.splitlines() == ["an error"]
    tail = swsctl(["logs", name, "--tail", "2", "--prefix", "--timestamps"], user.env)
    assert tail.stdout.strip().endswith(f"sws-svc-{name}-1 | line 1499")
    assert swsctl(["logs", name], other_user.env).exit_code == 5
    bad = swsctl(["logs", name, "--since", "yesterday"], user.env)
    assert bad.exit_code == 2 and "--since" in bad.output
    assert swsctl(["logs", name, "--since", "10m", "--tail", "1"], user.env).stderr == "an error\n"


def test_escapes_in_a_services_output_are_shown_not_obeyed(user, tmp_path):
    """Issue 25: OSC and CSI sequences and CR in lines reach the terminal visibly in logs, get
    and ls; -o json keeps the line exact."""
    name = applied(user, tmp_path)
    hostile = "\x1b]0;owned\x07\x1b[2Jrm -rf /\rall good\tend"
    add_lines(user.api.database_url, [hostile], name=name)
    shown = "\\x1b]0;owned\\x07\\x1b[2Jrm -rf /\\rall good\tend"
    assert swsctl(["logs", name], user.env).stdout == shown + "\n"
    described = swsctl(["get", name], user.env).stdout
    assert f"Last log line:      {shown}" in described and "\x1b" not in described
    listed = swsctl(["ls"], user.env).stdout
    assert "\\x1b]0;owned" in listed and "\x1b" not in listed and "\r" not in listed
    exact = swsctl(["get", name, "-o", "json"], user.env).stdout
    assert json.loads(exact)["last_log"] == hostile


def test_logs_follow_prints_new_lines_until_the_service_is_deleted(user, tmp_path):
    name = applied(user, tmp_path)
    add_lines(user.api.database_url, ["before"], name=name)
    env = {k: v for k, v in {**os.environ, **user.env}.items() if v is not None}
    with subprocess.Popen(
        [SWSCTL, "logs", name, "-f"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    ) as follower:  # fmt: skip
        try:
            assert follower.stdout.readline() == "before\n"
            add_lines(user.api.database_url, ["from generation 2"], name=name, generation=2)
            assert follower.stdout.readline() == "from generation 2\n"
            assert swsctl(["delete", name], user.env).exit_code == 0
            assert follower.wait(timeout=WAIT) == 0
            assert "was deleted" in follower.stderr.read()
        finally:
            follower.kill()


def test_ls_watch_shows_the_list_again_when_it_changes(user, tmp_path):
    name = applied(user, tmp_path)
    env = {k: v for k, v in {**os.environ, **user.env}.items() if v is not None}
    seen: list[str] = []
    with subprocess.Popen(
        [SWSCTL, "ls", "-w"], env={**env, "SWS_WATCH_INTERVAL": "0.1"},
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        preexec_fn=ctrl_c_as_on_a_terminal,
    ) as watcher:  # fmt: skip
        reader = threading.Thread(target=lambda: seen.extend(watcher.stdout), daemon=True)
        reader.start()
        try:
            until(lambda: any("pending" in line for line in seen), "the first list is not shown")
            cli_tests.writer(user.api).mark_running(name)
            add_lines(user.api.database_url, ["ready to serve"], name=name)
            until(
                lambda: any("running" in line and "ready to serve" in line for line in seen),
                "the changed list is not shown",
            )
            watcher.send_signal(signal.SIGINT)
            assert watcher.wait(timeout=WAIT) == 0
            reader.join(timeout=WAIT)
        finally:
            watcher.kill()
    assert sum(line.startswith("NAME") for line in seen) >= 2


def until(check, what):
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def ctrl_c_as_on_a_terminal() -> None:
    """SIGINT as a shell in the foreground leaves it. A test run started in the background
    (`make test &`, nohup) inherits SIGINT ignored, Python keeps it ignored, and the watch
    would never see the Ctrl-C this test sends."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
