"""The services' firewall rules in a real iptables (issue 25): iptables-restore takes what
firewall.py renders, `iptables -S` prints it back exactly so (a pass then finds nothing to
do), a lost jump or rule is put back without touching anyone else's rules, and the teardown's
task removes SWS's and leaves Docker's own.

Everything runs in a network namespace of the test's own (unshare, then nsenter for each
command): the host's tables, which a live SWS host and Docker use, are never touched.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import time

import pytest
import yaml

from swsagent import firewall
from tests.fixtures.contract import REPO, repo_contract

DOCKERS = ["-N DOCKER-USER", "-A DOCKER-USER -j RETURN", "-A FORWARD -j DOCKER-USER"]


@pytest.fixture
def netns():
    """A command prefix that runs a command in a fresh network namespace."""
    if os.geteuid() != 0 or not all(shutil.which(c) for c in ("unshare", "nsenter", "iptables")):
        pytest.skip("needs root, unshare, nsenter and iptables")
    holder = subprocess.Popen(["unshare", "--net", "sleep", "300"])
    ours = os.readlink("/proc/self/ns/net")
    deadline = time.monotonic() + 5
    while os.readlink(f"/proc/{holder.pid}/ns/net") == ours:
        assert time.monotonic() < deadline, "unshare made no namespace"
        time.sleep(0.01)
    try:
        yield ("nsenter", f"--net=/proc/{holder.pid}/ns/net")
    finally:
        holder.kill()
        holder.wait()


def iptables(prefix, *rule: str) -> None:
    subprocess.run([*prefix, "iptables", "-w", "5", *rule], check=True, capture_output=True)


def as_docker_made_it(prefix) -> None:
    for rule in DOCKERS:
        iptables(prefix, *rule.split())
    iptables(prefix, "-A", "INPUT", "-i", "eth0", "-p", "tcp", "--dport", "22", "-j", "ACCEPT")


def policy(**changes) -> firewall.Policy:
    contract = dataclasses.replace(repo_contract(), **changes)
    return firewall.Policy.from_contract(contract, ("10.255.255.53",), ("br-3f3cefd92001",))


def teardown_command() -> str:
    tasks = yaml.safe_load((REPO / "playbooks" / "teardown.yml").read_text())[0]["tasks"]
    task = next(t for t in tasks if t["name"] == "Remove the services' firewall rules")
    contract = repo_contract()
    return (
        task["ansible.builtin.shell"]["cmd"]
        .replace("{{ sws_input_chain | quote }}", contract.input_chain)
        .replace("{{ sws_forward_chain | quote }}", contract.forward_chain)
    )


def put_in_place(prefix, wanted: firewall.Rules) -> firewall.Repair | None:
    fixed = firewall.repair(wanted, firewall.read_tables(prefix))
    if fixed is not None:
        firewall.restore(fixed.script, prefix)
    return fixed


def test_rules_go_in_read_back_exactly_and_come_back_when_lost(netns):
    as_docker_made_it(netns)
    wanted = firewall.rules(policy(blocked_ranges=("10.0.0.0/8", "192.168.0.0/16")))
    assert put_in_place(netns, wanted) is not None
    seen = firewall.read_tables(netns)
    assert firewall.repair(wanted, seen) is None, seen
    assert seen.of("INPUT")[-1].endswith("--dport 22 -j ACCEPT")
    assert seen.of("DOCKER-USER")[-1] == "-A DOCKER-USER -j RETURN"

    # A jump deleted by hand, a rule of a chain gone, a rule put above ours: all put back.
    iptables(netns, "-D", "INPUT", "-i", "sws-st+", "-j", "SWS-INPUT")
    iptables(netns, "-D", "SWS-FORWARD", "-d", "10.0.0.0/8", *firewall.REFUSE.split())
    iptables(netns, "-I", "DOCKER-USER", "1", "-j", "ACCEPT")
    fixed = put_in_place(netns, wanted)
    assert set(fixed.missing) == {
        "chain SWS-FORWARD",
        "the jumps at the top of INPUT",
        "the jumps at the top of DOCKER-USER",
    }
    seen = firewall.read_tables(netns)
    assert firewall.repair(wanted, seen) is None, seen
    assert "-A DOCKER-USER -j ACCEPT" in seen.of("DOCKER-USER")  # not ours: kept, below


def test_without_docker_user_the_chain_is_made(netns):
    wanted = firewall.rules(policy())
    put_in_place(netns, wanted)
    seen = firewall.read_tables(netns)
    assert "DOCKER-USER" in seen.chains
    assert firewall.repair(wanted, seen) is None, seen


def test_changed_settings_replace_the_rules_and_removal_leaves_dockers(netns):
    as_docker_made_it(netns)
    put_in_place(netns, firewall.rules(policy()))
    # The operator lists a range; the legacy bridge is gone (its network made again).
    contract = dataclasses.replace(repo_contract(), blocked_ranges=("172.16.0.0/12",))
    wanted = firewall.rules(firewall.Policy.from_contract(contract))
    put_in_place(netns, wanted)
    seen = firewall.read_tables(netns)
    assert firewall.repair(wanted, seen) is None, seen
    assert not [r for r in seen.of("INPUT") if "br-3f3cefd92001" in r]

    # The teardown's task, as playbooks/teardown.yml has it.
    subprocess.run([*netns, "sh", "-c", teardown_command()], check=True, capture_output=True)
    left = firewall.read_tables(netns)
    assert not set(wanted.chains) & left.chains
    assert left.of("DOCKER-USER") == ("-A DOCKER-USER -j RETURN",)
    assert len(left.of("INPUT")) == 1
