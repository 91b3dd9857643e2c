"""The fault suite's fixtures: the e2e tier's bootstrapped host (same session lock, same
agent_host), one steady service under a load loop for the whole suite, and the table of
figures the suite writes (build/faults-table.md) and prints at the end of the run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import bootstrapped_host, sws_e2e_lock  # noqa: F401 - fixtures
from tests.e2e.test_agent import agent_host  # noqa: F401 - a fixture
from tests.faults.harness import FIGURES, Load, table

TABLE = Path(__file__).resolve().parents[2] / "build" / "faults-table.md"


@pytest.fixture(scope="package")
def steady(agent_host):  # noqa: F811
    """The unaffected service, with a load loop on it for the whole suite.

    Package scope: the loop ends with the fault suite. A session-scoped loop kept sending
    through the integration and unit tiers, and its threads read os.environ while tests
    changed it (CI once failed on the KeyError that race raises).
    """
    name = "faults-steady"
    agent_host.apply(name, env={"GREETING": "steady"})
    agent_host.run_pass()
    agent_host.assert_running(name)
    load = Load(agent_host.http, f"{name}.agent.test")
    load.start()
    yield load
    load.finish()
    agent_host.delete(name)


def pytest_terminal_summary(terminalreporter):
    if not FIGURES:
        return
    text = table()
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    TABLE.write_text(text)
    terminalreporter.write_sep(
        "=", f"fault figures (also in {TABLE.relative_to(TABLE.parents[1])})"
    )
    terminalreporter.write_line(text)
