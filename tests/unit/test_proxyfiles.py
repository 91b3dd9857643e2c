"""The proxies' configuration volume is named in three places that must agree: the agent's
swsagent/proxyfiles.py, the collection's roll (module_utils/proxyroll.py) and the bootstrap
that lays the volume out (roles/sws_proxy)."""

from pathlib import Path

import yaml

from swsagent import collection, proxyfiles

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "sws_proxy"


def test_the_agent_the_roll_and_the_bootstrap_name_one_volume_layout():
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    assert defaults["sws_proxy_conf_dir"] == proxyfiles.CONF_DIR
    assert collection.module_utils("proxyroll").CONF_DIR == proxyfiles.CONF_DIR
    tasks = (ROLE / "tasks" / "main.yml").read_text() + (ROLE / "tasks" / "tls.yml").read_text()
    for path in (
        proxyfiles.LIVE_ROUTES,
        proxyfiles.CHALLENGES_DIR,
    ):
        first = proxyfiles.on_host(path).split("/")[0]
        laid_out = f"'{first}'" in tasks or f'}}/{first}"' in tasks
        assert laid_out, f"roles/sws_proxy lays out no {first}/ for {path}"
    templates = {p.name: p.read_text() for p in (ROLE / "templates").glob("*.j2")}
    assert "{{ sws_proxy_conf_dir }}/acme-challenge/" in templates["nginx.conf.j2"]
    assert proxyfiles.on_host(proxyfiles.UPGRADE_DEFAULTS) == "upgrade.conf"
