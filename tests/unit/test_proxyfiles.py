"""The host contract (swscore/hostcontract.py) is sws.yml, typed: it loads, every key of the
file is a field and the other way round, and the proxies' configuration directory has one
definition (sws_proxy_conf_mount) that the agent, the roll and the bootstrap all take."""

import re
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from swscore.hostcontract import ContractError, HostContract, load_contract
from tests.fixtures.contract import REPO, repo_contract, repo_names

SWS_YML = REPO / "inventory" / "group_vars" / "all" / "sws.yml"
ROLE = REPO / "roles" / "sws_proxy"
PRODUCT = ("swscore", "swsagent", "swsapi", "swsctl", "playbooks", "roles", "inventory")


def test_the_contract_loads_and_is_sws_yml():
    raw = yaml.safe_load(SWS_YML.read_text())
    contract = repo_contract()
    assert {f"sws_{f.name}" for f in fields(HostContract)} == set(raw)
    for key, value in raw.items():
        got = getattr(contract, key.removeprefix("sws_"))
        assert (list(got) if isinstance(got, tuple) else got) == value, key
    assert contract.images == raw["sws_upstream_images"]
    assert contract.proxy_conf_volumes == ("sws-proxy-1-conf", "sws-proxy-2-conf")
    assert contract.label_prefix == "sws"
    assert contract.proxy_routes_socket == "/run/sws/proxy/http.sock"


def test_host_settings_override_and_images_follow_the_mode(tmp_path):
    settings = tmp_path / "agent-host.yml"
    settings.write_text("sws_offline_images: true\nsws_confdb_host_port: 55432\n")
    contract = load_contract(REPO, settings)
    assert contract.confdb_host_port == 55432
    assert contract.images == contract.offline_images_names
    assert load_contract(REPO, tmp_path / "absent.yml") == repo_contract()


def _project(tmp_path, text: str) -> Path:
    path = tmp_path / "inventory" / "group_vars" / "all" / "sws.yml"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t + "sws_nope: 1\n", "unknown key sws_nope"),
        (lambda t: t.replace("sws_http_port: 80\n", ""), "missing key(s) sws_http_port"),
        (lambda t: t.replace("sws_http_port: 80", "sws_http_port: eighty"), "sws_http_port must"),
        (lambda t: t.replace("sws_purge: false", "sws_purge: 0"), "sws_purge must be true or"),
        (lambda t: t.replace("sws_roll_drain: drain", "sws_roll_drain: x"), "sws_roll_drain"),
        (lambda t: t.replace("sws_etc_dir: /etc/sws", "sws_etc_dir: '{{ x }}'"), "Jinja"),
    ],
)
def test_a_broken_contract_names_the_key_and_the_file(tmp_path, change, message):
    project = _project(tmp_path, change(SWS_YML.read_text()))
    with pytest.raises(ContractError) as caught:
        load_contract(project)
    assert message in str(caught.value) and "sws.yml" in str(caught.value)


def test_a_host_settings_key_outside_the_contract_is_refused(tmp_path):
    settings = tmp_path / "agent-host.yml"
    settings.write_text("sws_roll_drian: reload\n")
    with pytest.raises(ContractError, match=r"agent-host.yml: unknown key sws_roll_drian"):
        load_contract(REPO, settings)


def test_the_agent_the_roll_and_the_bootstrap_name_one_volume_layout():
    files = repo_names().proxy_files
    assert files.conf_dir == repo_contract().proxy_conf_mount
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    assert defaults["sws_proxy_conf_dir"] == "{{ sws_proxy_conf_mount }}"
    tasks = (ROLE / "tasks" / "main.yml").read_text() + (ROLE / "tasks" / "tls.yml").read_text()
    for path in (files.live_routes, files.challenges_dir):
        first = files.on_host(path).split("/")[0]
        laid_out = f"'{first}'" in tasks or f'}}/{first}"' in tasks
        assert laid_out, f"roles/sws_proxy lays out no {first}/ for {path}"
    templates = {p.name: p.read_text() for p in (ROLE / "templates").glob("*.j2")}
    assert "{{ sws_proxy_conf_dir }}/acme-challenge/" in templates["nginx.conf.j2"]
    assert files.on_host(files.upgrade_defaults) == "upgrade.conf"


def test_no_second_literal_of_the_conf_mount_in_the_product():
    mount = repo_contract().proxy_conf_mount
    found = []
    for top in PRODUCT:
        for path in (REPO / top).rglob("*"):
            if path.suffix in {".py", ".yml", ".j2", ".cfg"} and path != SWS_YML:
                if mount in path.read_text():
                    found.append(str(path.relative_to(REPO)))
    assert found == []


def test_the_roll_has_no_second_default_for_what_the_pass_gives():
    doc = (
        REPO / "playbooks/collections/ansible_collections/sws/host/plugins/modules/proxy_roll.py"
    ).read_text()
    for option in ("drain", "drain_timeout", "conf_dir"):
        line = re.search(rf"^  {option}: (.*)$", doc, re.M).group(1)
        assert "required: true" in line and "default" not in line, option
