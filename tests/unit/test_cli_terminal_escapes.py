"""Terminal escapes are shown, never obeyed (issue 25): what the server sends (a service's
output, the agent's messages, names) reaches the terminal with ESC, CR and the other control
characters made visible in every text format; -o json and -o yaml stay exact."""

import json

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from swsctl import output
from swsctl.cli import failure
from swsctl.commands.certs import describe_certificate
from swsctl.errors import WaitFailed
from tests.unit.test_cli_output import NOW, service

OSC_TITLE = "\x1b]0;owned\x07"  # sets the window title
OSC_LINK = "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\"  # a hyperlink
CSI_CLEAR = "\x1b[2J\x1b[H"  # clears the screen, cursor home
CR_OVERWRITE = "rm -rf /\rall good"  # CR: the second part would hide the first
C1_CSI = "\x9b31m"  # the one-byte CSI of C1
HOSTILE = [OSC_TITLE, OSC_LINK, CSI_CLEAR, CR_OVERWRITE, C1_CSI, "bell\x07", "del\x7f"]


def obeyable(text: str) -> list[str]:
    """Characters a terminal would act on (a newline between our own lines is fine)."""
    return [c for c in text if not c.isprintable() and c not in "\n\t"]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_shown_makes_every_control_visible_and_keeps_tabs(hostile):
    text = output.shown(hostile + "\tend")
    assert obeyable(text) == [] and "\n" not in text
    assert text.endswith("\tend")


def test_shown_says_what_was_there():
    assert output.shown(CSI_CLEAR) == "\\x1b[2J\\x1b[H"
    assert output.shown(CR_OVERWRITE) == "rm -rf /\\rall good"
    assert output.shown(C1_CSI) == "\\x9b31m"
    assert output.shown("line\nnext") == "line\\nnext"
    assert output.shown("ünïcode ✓ 日本") == "ünïcode ✓ 日本"  # printable text stays as it is


@given(st.text())
def test_nothing_shown_can_be_obeyed(text):
    assert obeyable(output.shown(text)) == []
    assert output.shown(output.shown(text)) == output.shown(text)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_logs_get_ls_stack_and_messages_show_escapes(hostile):
    item = {"time": "2026-11-22T12:00:00+00:00", "container": "web-1", "line": hostile}
    bad = service(
        name="web", message=hostile, last_log=hostile, host_notice=hostile,
        spec={**service()["spec"], "domain": "web.example.com", "image": "nginx:1.25"},
    )  # fmt: skip
    stack = {"name": "shop", "services": [{"name": "db", "status": hostile, "last_log": hostile}]}
    texts = [
        output.log_line(item, timestamps=True, prefix=True),
        output.describe(bad, show_secrets=True, now=NOW),
        output.table([bad], now=NOW),
        output.stack_table(stack),
        output.progress(bad),
        output.outcome({**bad, "result": hostile}),
        output.passes_table([{"id": 1, "outcome": "failed", "message": hostile}]),
        describe_certificate({"message": hostile, "domain": "web.example.com"}),
    ]
    for text in texts:
        assert obeyable(text) == [], text


def test_error_messages_from_the_server_are_shown():
    err = failure(WaitFailed(f"service/web failed: {OSC_TITLE}\n  {CR_OVERWRITE}"))
    assert obeyable(err.message) == []
    assert err.message.splitlines()[1] == "  rm -rf /\\rall good"  # our own newline stays


def test_echo_prints_lines_shown(capsys):
    output.echo(f"service/web: {CSI_CLEAR}\nsecond line")
    assert capsys.readouterr().out == "service/web: \\x1b[2J\\x1b[H\nsecond line\n"


@pytest.mark.parametrize("hostile", HOSTILE)
def test_json_and_yaml_stay_exact(hostile):
    data = service(last_log=hostile, message=hostile)
    assert json.loads(output.render(data, "json")) == data
    as_yaml = output.render(data, "yaml")
    assert yaml.safe_load(as_yaml) == data
    assert "\x1b" not in as_yaml and "\r" not in as_yaml  # YAML escapes them in quotes
