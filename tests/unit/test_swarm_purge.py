"""The purge job's swarm service (module_utils/swarmpurge.py, pure parts): pinned to the node
that holds the volume, one completion, never restarted, the volume mounted and nothing but
the capabilities deleting another user's files takes; a name swarm accepts for any volume."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from swsagent import collection

swarmpurge = collection.module_utils("swarmpurge")


def test_the_job_is_one_task_on_the_volumes_node_that_empties_it():
    body = swarmpurge.job_body("sws-purge-x", "web-volume.alice", "node-3", "busybox:1", "sws")
    template = body["TaskTemplate"]
    assert body["Mode"] == {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}}
    assert template["Placement"]["Constraints"] == ["node.hostname == node-3"]
    assert template["RestartPolicy"] == {"Condition": "none"}
    spec = template["ContainerSpec"]
    assert spec["Mounts"] == [{"Type": "volume", "Source": "web-volume.alice", "Target": "/volume"}]
    assert spec["CapabilityDrop"] == ["ALL"]
    assert spec["CapabilityAdd"] == ["CAP_DAC_OVERRIDE", "CAP_FOWNER"]
    assert spec["Command"][:2] == ["sh", "-c"] and "/volume" in spec["Command"][2]
    assert body["Labels"] == {"sws.purge": "web-volume.alice"}


@given(st.from_regex(r"[a-z][a-z0-9-]{0,62}-volume\.[a-z][a-z0-9-]{0,62}", fullmatch=True))
def test_a_jobs_name_is_one_swarm_accepts(volume):
    name = swarmpurge.job_name("sws", volume)
    assert len(name) <= 63 and "." not in name and name.startswith("sws-purge-")
    assert swarmpurge.job_name("sws", volume) == name  # the same volume, the same job
