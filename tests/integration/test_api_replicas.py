"""spec.replicas (issue 28) through the API on a real PostgreSQL: the operator's cap
(SWS_MAX_REPLICAS), the one-writer rule for a volume, running/desired in the service JSON, and
the settings' own checks."""

import psycopg2
import pytest

from swsagent import replicacount
from swsapi.app import create_app
from swsapi.config import Config, ConfigError
from tests.fixtures.apiserver import TestConfig, dispose
from tests.integration.test_api_isolation import sql
from tests.integration.test_api_services import apply, definition, error


@pytest.fixture
def capped(migrated_database_url):
    """The app with a cap of 3 replicas."""
    app = create_app(TestConfig(migrated_database_url, SWS_MAX_REPLICAS="3"))
    yield app.test_client()
    dispose(app)


def test_replicas_up_to_the_cap_are_stored_and_beyond_it_refused_naming_the_field(capped, alice):
    ok = apply(capped, alice, definition(replicas=3))
    assert ok.status_code == 201, ok.get_json()
    body = ok.get_json()
    assert body["spec"]["replicas"] == 3
    assert (body["replicas_running"], body["replicas_desired"]) == (0, 3)
    response = apply(capped, alice, definition(replicas=4))
    assert response.status_code == 400
    assert error(response)["fields"] == {
        "spec.replicas": "must be at most 3 on this host (SWS_MAX_REPLICAS)"
    }
    bad = apply(capped, alice, definition(replicas=0))
    assert error(bad)["fields"]["spec.replicas"] == "must be a whole number from 1 to 100"


def test_a_service_with_a_volume_is_refused_more_than_one_replica(capped, alice):
    response = apply(capped, alice, definition("db", volumeMount="/data", replicas=2))
    assert response.status_code == 400
    assert "one writer" in error(response)["fields"]["spec.replicas"]


def test_running_and_desired_follow_the_agent_s_count_and_the_user_s_stop(
    capped, alice, migrated_database_url
):
    assert apply(capped, alice, definition(replicas=2)).status_code == 201
    sql(migrated_database_url, "UPDATE services SET applied_generation = 1")
    with psycopg2.connect(migrated_database_url) as conn:  # commits at the end of the block
        replicacount.record(conn, replicacount.running_counts([("web", 1, True)]))
    conn.close()
    body = capped.get("/v1/services/web", headers=alice).get_json()
    assert (body["replicas_running"], body["replicas_desired"]) == (1, 2)
    assert capped.post("/v1/services/web/stop", headers=alice).status_code == 200
    body = capped.get("/v1/services/web", headers=alice).get_json()
    assert body["replicas_desired"] == 0  # stopped: none should run


@pytest.mark.parametrize(
    ("raw", "problem"),
    [("0", "at least 1"), ("101", "at most 100"), ("many", "a whole number")],
)
def test_the_cap_setting_is_checked(raw, problem):
    with pytest.raises(ConfigError, match="SWS_MAX_REPLICAS") as err:
        Config({"SWS_MAX_REPLICAS": raw})
    assert problem in str(err.value)
    assert Config({}).SWS_MAX_REPLICAS == 5
