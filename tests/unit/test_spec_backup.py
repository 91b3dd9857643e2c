"""spec.backup (issue 27): an optional field, validated in swscore alone (the API, the agent
and swsctl's validation all load specs through it), shown back as written."""

import pytest

from swscore.spec import SpecError, load_definition

BASE = {"name": "db", "port": 5432, "image": "postgres:15", "volumeMount": "/data"}


def load(**spec):
    return load_definition({"apiVersion": "v1", "spec": {**BASE, **spec}})


def test_a_schedule_is_kept_as_written_and_absent_changes_no_digest():
    definition = load(backup={"schedule": "17 3 * * *", "timeZone": "Europe/Paris"})
    assert definition.spec_dict()["backup"] == {
        "schedule": "17 3 * * *",
        "timeZone": "Europe/Paris",
    }
    assert definition.backup.zone.key == "Europe/Paris"
    assert "backup" not in load().spec_dict()


@pytest.mark.parametrize(
    ("backup", "field"),
    [
        ({"schedule": "61 * * * *"}, "spec.backup.schedule"),
        ({"schedule": "* * * * *", "timeZone": "Mars/Olympus"}, "spec.backup.timeZone"),
        ({"schedule": "* * * * *", "keep": 3}, "spec.backup.keep"),
        ({}, "spec.backup.schedule"),
    ],
)
def test_bad_settings_name_their_field(backup, field):
    with pytest.raises(SpecError) as err:
        load(backup=backup)
    assert field in err.value.fields


def test_a_service_without_a_volume_has_nothing_to_back_up():
    spec = {k: v for k, v in BASE.items() if k != "volumeMount"}
    with pytest.raises(SpecError) as err:
        load_definition({"apiVersion": "v1", "spec": {**spec, "backup": {"schedule": "* * * * *"}}})
    assert "spec.backup" in err.value.fields
