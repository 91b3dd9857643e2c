"""An image built from this repository is rebuilt on a host only when its tag changes: the
images role builds the tags a host lacks and never looks inside one it has. So a change to a
build context (a package added to the proxy image, say) must come with a new tag in sws.yml,
or existing hosts keep the old image under the old tag. The golden file pairs each tag with
a digest of its context; SWS_UPDATE_GOLDEN=1 rewrites it, and refuses a changed context whose
tag did not change.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "roles" / "sws_images" / "files"
GOLDEN = Path(__file__).parent / "golden" / "image-contexts.json"


def contexts() -> dict[str, dict[str, str]]:
    """{component: {tag, context digest}}, build-image.sh counted in every context."""
    settings = yaml.safe_load((REPO / "inventory/group_vars/all/sws.yml").read_text())
    tags = {**settings["sws_offline_images_names"], "hello": settings["sws_hello_image"]}
    found = {}
    for component, tag in sorted(tags.items()):
        digest = hashlib.sha256((BUILD / "build-image.sh").read_bytes())
        for path in sorted((BUILD / "build" / component).rglob("*")):
            if path.is_file():
                digest.update(path.name.encode() + b"\0" + path.read_bytes())
        found[component] = {"tag": tag, "context": digest.hexdigest()}
    return found


def test_a_changed_build_context_comes_with_a_new_tag():
    now = contexts()
    kept = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    stale = [
        c
        for c, v in now.items()
        if c in kept and v["context"] != kept[c]["context"] and v["tag"] == kept[c]["tag"]
    ]
    assert not stale, f"change the tag of {stale} in sws.yml: hosts rebuild only a new tag"
    if os.environ.get("SWS_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(now, indent=2, sort_keys=True) + "\n")
    assert now == json.loads(GOLDEN.read_text()), "image-contexts.json differs: review, update"
