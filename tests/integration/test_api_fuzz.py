"""Fuzz the served API from its own OpenAPI document: well over 1,000 generated requests, no 5xx.

schemathesis turns each operation of /v1/openapi.json into a hypothesis strategy, both valid
(positive) and invalid (negative) requests, sent to a real gunicorn against a real PostgreSQL.
Every answer must be documented (status code, content type, body schema) and never a 5xx.
"""

import base64

import pytest
import requests
import schemathesis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from swsapi.store import set_quota
from tests.integration.conftest import start_live_api, stop_live_api

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Examples per operation and mode, about a minute in all; operations without parameters stop
# early by themselves. Negative applies are the slowest to generate.
EXAMPLES = {
    ("applyService", GenerationMode.POSITIVE): 320,
    ("applyService", GenerationMode.NEGATIVE): 200,
    ("getService", GenerationMode.POSITIVE): 120,
    ("getService", GenerationMode.NEGATIVE): 120,
    ("deleteService", GenerationMode.POSITIVE): 120,
    ("deleteService", GenerationMode.NEGATIVE): 120,
}
DEFAULT_EXAMPLES = 15
MINIMUM_REQUESTS = 1000


def same_name_in_url_and_body(case) -> None:
    """Most generated applies should reach the store, so use the spec's name in the URL."""
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("spec"), dict):
        name = body["spec"].get("name")
        if isinstance(name, str) and name:
            case.path_parameters = {"name": name}


def fuzz(operation, mode, url, session, headers, sent: list) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES.get(
            (operation.definition.raw["operationId"], mode), DEFAULT_EXAMPLES
        ),
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        if mode is GenerationMode.POSITIVE and operation.method == "put":
            same_name_in_url_and_body(case)
        response = case.call(base_url=url, session=session, headers=headers)
        sent.append(response.status_code)
        case.validate_response(response, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:
        # An operation with no parameters and no body has no invalid form to generate.
        assert mode is GenerationMode.NEGATIVE


@pytest.fixture
def live_api(database_url):
    """The live apiserver, with log streams (follow=true) that end after a second."""
    # A sealing key, as the bootstrap gives one: certificate uploads reach their checks.
    seal = base64.b64encode(
        X25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ).decode()
    live = start_live_api(
        database_url,
        SWS_STREAM_MAX_SECONDS="1",
        SWS_STREAM_POLL_SECONDS="0.2",
        SWS_CERT_SEAL_KEY=seal,
        # Negative cases send wrong tokens by the hundred from one address: the guess limit
        # (test_api_guesses.py) would then refuse the fuzzer's own token for a minute.
        SWS_AUTH_FAILURES="1000000",
    )
    yield live
    stop_live_api(live)


def test_fuzz_the_served_openapi_document(live_api, capsys):
    headers = {"Authorization": f"Bearer {live_api.create_user('fuzzer')}"}
    with live_api.app.app_context():
        # Past the default quota of 20 most generated applies would be 409s, not stored.
        set_quota("fuzzer", 100_000)
    schema = schemathesis.openapi.from_url(live_api.url + "/v1/openapi.json")
    sent: list[int] = []
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                fuzz(operation, mode, live_api.url, session, headers, sent)
    by_status = {status: sent.count(status) for status in sorted(set(sent))}
    with capsys.disabled():  # the count belongs in the test log, captured or not
        print(f"\nfuzz: {len(sent)} generated requests, answers by status: {by_status}")
    assert len(sent) >= MINIMUM_REQUESTS
    assert not any(status >= 500 for status in sent)
    assert {200, 201, 202, 400, 401, 404} <= set(by_status)
    assert by_status[201] >= 20  # valid definitions do reach the store
