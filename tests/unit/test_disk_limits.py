"""Disk limits (issue 25), the pure parts: spec.resources.disk, the volume's rendered size, the
operator's settings, the free-disk floor's decision and the writable layers' watch."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from swsagent import diskspace, layerwatch
from swsagent.config import AgentConfigError, config_from_mapping
from swsagent.desired import DesiredService
from swsagent.disklimits import DiskLimits, shown, volume_vars
from swsagent.observe import RunningContainer
from swscore.spec import MEMORY_UNITS, MIN_DISK, SpecError, load_definition
from tests.fixtures.contract import REPO, in_repo

SWS = yaml.safe_load((REPO / "inventory/group_vars/all/sws.yml").read_text())
MiB, GiB = 2**20, 2**30


def spec(**extra) -> dict:
    body = {"name": "db", "port": 5432, "image": "postgres:15", **extra}
    return {"apiVersion": "v1", "spec": body}


sizes = st.tuples(st.integers(0, 10**6), st.sampled_from(list(MEMORY_UNITS)))


@given(sizes)
def test_a_disk_size_is_kept_as_written_from_16_mebibytes(size):
    number, unit = size
    written = f"{number}{unit or ''}"
    wanted = number * MEMORY_UNITS[unit]
    document = spec(volumeMount="/data", resources={"disk": written})
    if wanted < MIN_DISK:
        with pytest.raises(SpecError) as err:
            load_definition(document)
        assert err.value.fields == {"spec.resources.disk": "must be at least 16Mi"}
        return
    loaded = load_definition(document)
    assert loaded.resources.disk_bytes == wanted
    assert loaded.spec_dict()["resources"] == {"disk": written}
    assert load_definition(loaded.document()) == loaded


@given(st.text(max_size=12))
def test_a_disk_size_of_another_shape_is_refused_naming_the_field(text):
    document = spec(volumeMount="/data", resources={"disk": text})
    try:
        load_definition(document)
    except SpecError as err:
        assert list(err.fields) == ["spec.resources.disk"]
    else:  # only what the memory grammar takes passes
        number, unit = text.rstrip("kMGi") or "x", text[len(text.rstrip("kMGi")) :]
        assert number.isdigit() and (unit or None) in MEMORY_UNITS


def test_a_spec_without_disk_keeps_its_digest_and_disk_needs_a_volume():
    plain = load_definition(spec(volumeMount="/data", resources={"memory": "64Mi"}))
    assert "disk" not in plain.spec_dict()["resources"]
    with pytest.raises(SpecError) as err:
        load_definition(spec(resources={"disk": "1Gi"}))
    assert "needs a volumeMount" in err.value.fields["spec.resources.disk"]


def desired(name="db", volume="/data", disk=None, **extra) -> DesiredService:
    resources = {"disk": disk} if disk else None
    definition = load_definition(
        spec(name=name, **({"volumeMount": volume} if volume else {}), resources=resources)
    )
    base = {"generation": 1, "applied_generation": 0, "status": "pending", "digest": "d"}
    return DesiredService(name=name, definition=definition, **{**base, **extra})


def test_the_volume_size_is_the_specs_else_the_operators():
    assert volume_vars(desired(disk="32Mi"), GiB) == {
        "sws_service_volume_size": 32 * MiB,
        "sws_service_volume_size_asked": True,
    }
    assert volume_vars(desired(), GiB) == {
        "sws_service_volume_size": GiB,
        "sws_service_volume_size_asked": False,
    }
    assert volume_vars(desired(volume=None), GiB) == {}
    assert volume_vars(desired(), 0) == {}  # an agent without sizes: plain volumes


def test_the_disk_settings_come_from_agent_yml_with_sws_yml_defaults():
    raw = {
        "database_url": "x",
        "service_disk": SWS["sws_default_service_disk"],
        "min_free_disk": SWS["sws_min_free_disk"],
        "writable_layer_max": SWS["sws_writable_layer_max"],
    }
    assert config_from_mapping(in_repo(raw)).disk == DiskLimits()
    config = config_from_mapping(in_repo({**raw, "volumes_dir": SWS["sws_volumes_dir"]}))
    assert str(config.disk.volumes_dir) == SWS["sws_volumes_dir"]
    assert config_from_mapping(in_repo({**raw, "min_free_disk": 0})).disk.min_free == 0
    with pytest.raises(AgentConfigError, match="min_free_disk must be a size"):
        config_from_mapping(in_repo({**raw, "min_free_disk": "5%"}))
    with pytest.raises(AgentConfigError, match="volumes_dir must be an absolute path"):
        config_from_mapping(in_repo({**raw, "volumes_dir": "volumes"}))


def running(service: str) -> RunningContainer:
    return RunningContainer(f"sws-svc-{service}-1", service, 1, "d", "", 80, True, "10.0.0.2")


def test_below_the_floor_only_new_services_and_volumes_wait():
    new, old, old_no_volume = desired("new"), desired("old"), desired("web", volume=None)
    space = diskspace.DiskSpace({"/var/lib/docker": 1 * GiB}, frozenset({"old"}))
    containers = [running("old"), running("web")]
    refused = diskspace.refuse_new([new, old, old_no_volume], containers, space, 2 * GiB, True)
    assert list(refused) == ["new"]
    assert "/var/lib/docker has 1 GiB free, under the host's floor of 2 GiB" in refused["new"]
    # An existing service whose volume is not made yet (an update adds a volumeMount) waits.
    without_volume = diskspace.DiskSpace({"/var/lib/docker": GiB}, frozenset())
    assert list(diskspace.refuse_new([old], containers, without_volume, 2 * GiB, True)) == ["old"]
    assert diskspace.refuse_new([old], containers, without_volume, 2 * GiB, False) == {}
    # Above the floor, or no floor: everything goes.
    assert diskspace.refuse_new([new], [], space, GiB, True) == {}
    assert diskspace.refuse_new([new], [], space, 0, True) == {}


def test_the_fullest_filesystem_decides():
    space = diskspace.DiskSpace({"/var/lib/docker": 9 * GiB, "/srv/volumes": MiB})
    assert space.tightest() == ("/srv/volumes", MiB)
    assert diskspace.DiskSpace().tightest() is None


def test_a_container_over_the_writable_layer_cap_is_found():
    services = [desired("db", status="running"), desired("web", volume=None, status="running")]
    containers = {"sws-svc-db-1": "db", "sws-svc-web-1": "web", "other": "gone"}
    sizes = {"sws-svc-db-1": GiB + 1, "sws-svc-web-1": GiB, "other": 5 * GiB}
    assert layerwatch.over_cap(services, containers, sizes, GiB) == {
        "db": ("sws-svc-db-1", GiB + 1, 1)
    }
    assert layerwatch.over_cap(services, containers, sizes, 0) == {}
    said = layerwatch.message("sws-svc-db-1", 3 * GiB // 2, GiB)
    assert "wrote 1.5 GiB to its container filesystem, over the host's 1 GiB" in said
    assert "volume" in said


def test_sizes_read_as_people_write_them():
    assert [shown(n) for n in (17, 2048, 32 * MiB, 3 * GiB // 2)] == [
        "17 bytes",
        "2 KiB",
        "32 MiB",
        "1.5 GiB",
    ]
