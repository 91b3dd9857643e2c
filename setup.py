"""Which of the project's packages a build takes (pyproject.toml holds everything else).

A checkout (`pip install -e .`, the tests) takes them all. The bootstrap builds each server's
wheelhouse with SWS_DIST set, so each installs only its own code: the apiserver's image holds
no agent code, the agent's venv no apiserver code (and, by its extra, no Flask). swscore, the
shared floor with no framework, goes everywhere; swsctl goes with a plain `pip install`.
"""

import os
import shutil

from setuptools import find_packages, setup

DISTS = {
    "all": (["swscore", "swsapi", "swsagent", "swsctl"], ["swsctl", "sws-apiserver", "sws-agent"]),
    "apiserver": (["swscore", "swsapi"], ["sws-apiserver"]),
    "agent": (["swscore", "swsagent"], ["sws-agent"]),
}
SCRIPTS = {
    "swsctl": "swsctl.cli:main",
    "sws-apiserver": "swsapi.cli:main",
    "sws-agent": "swsagent.cli:main",
}

dist = os.environ.get("SWS_DIST", "all")
if dist not in DISTS:
    raise SystemExit(f"SWS_DIST must be one of {', '.join(DISTS)}, not {dist!r}")
roots, scripts = DISTS[dist]
# pip builds in the source tree, and setuptools keeps what build/ held: a file of another
# dist's (or one deleted since) would ride along. Each dist builds in a folder of its own,
# emptied first.
build_base = os.path.join("build", dist)
if dist != "all":
    shutil.rmtree(build_base, ignore_errors=True)

setup(
    packages=find_packages(include=[p for r in roots for p in (r, f"{r}.*")]),
    entry_points={"console_scripts": [f"{s} = {SCRIPTS[s]}" for s in scripts]},
    options={"build": {"build_base": build_base}},
)
