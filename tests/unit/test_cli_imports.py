"""swsctl runs on a laptop: it must import the v1 schema without the server's dependencies."""

import subprocess
import sys

SERVER_ONLY = ("flask", "sqlalchemy", "psycopg2", "flask_migrate", "gunicorn", "ansible_runner")


def test_swsctl_imports_no_server_dependency():
    probe = (
        "import sys, swsctl.cli, swsctl.definition; "
        f"print(','.join(m for m in {SERVER_ONLY!r} if m in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "", f"swsctl pulled in server modules: {run.stdout}"
