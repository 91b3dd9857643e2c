"""Three packages and a shared floor: the apiserver (swsapi) and the agent (swsagent) never
import each other, and swscore imports neither of them nor any framework. Checked by importing
every module of each package in a fresh interpreter and looking at what got loaded."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "swscore": ("swsapi", "swsagent", "swsctl", "flask", "sqlalchemy", "ansible_runner"),
    "swsapi": ("swsagent", "ansible_runner"),
    "swsagent": ("swsapi", "flask", "flask_sqlalchemy", "flask_migrate", "gunicorn"),
    "swsctl": ("swsapi", "swsagent", "flask", "sqlalchemy", "psycopg2"),
}


def modules_of(package: str) -> list[str]:
    found = [package]
    for info in pkgutil.walk_packages([str(REPO / package)], prefix=f"{package}."):
        if ".migrations" not in info.name and not info.name.endswith("gunicorn_conf"):
            found.append(info.name)
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_nothing_of_the_others(package):
    probe = (
        "import importlib, sys\n"
        f"for m in {modules_of(package)!r}: importlib.import_module(m)\n"
        "loaded = {n.split('.')[0] for n in sys.modules}\n"
        f"print(','.join(sorted(loaded & set({FORBIDDEN[package]!r}))))"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert run.stdout.strip() == "", f"{package} imports {run.stdout.strip()}"


def test_one_status_enum_serves_the_models_constraint():
    from swsapi.models import Service
    from swscore.contract import ServiceStatus

    checks = [
        c
        for c in Service.__table__.constraints
        if str(getattr(c, "sqltext", "")).startswith("status")
    ]
    assert len(checks) == 1
    for status in ServiceStatus:
        assert f"'{status.value}'" in str(checks[0].sqltext)
