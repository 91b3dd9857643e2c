"""The error shapes hold on the real server too (gunicorn in front of the app)."""

import pytest
import requests


@pytest.fixture
def headers(live_api):
    return {
        "Authorization": f"Bearer {live_api.create_user('alice')}",
        "Content-Type": "application/json",
    }


@pytest.mark.parametrize("size", [70_000, 5_000_000])
def test_huge_body_is_413(live_api, headers, size):
    body = b'{"apiVersion": "' + b"x" * size + b'"}'
    response = requests.put(live_api.url + "/v1/services/web", data=body, headers=headers)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_huge_chunked_body_is_413(live_api, headers):
    chunks = (b"x" * 10_000 for _ in range(100))  # no Content-Length: sent chunked
    response = requests.put(live_api.url + "/v1/services/web", data=chunks, headers=headers)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_small_chunked_body_is_read(live_api, headers):
    doc = (
        b'{"apiVersion": "v1", "spec": {"name": "web", "port": 80, "domain": "a.b", "image": "x"}}'
    )
    response = requests.put(live_api.url + "/v1/services/web", data=iter([doc]), headers=headers)
    assert response.status_code == 201


def test_errors_keep_their_shape_over_http(live_api, headers):
    url = live_api.url
    cases = [
        (requests.get(url + "/nowhere"), 404),
        (requests.post(url + "/v1/services", headers=headers), 405),
        (requests.put(url + "/v1/services/web", data=b"{", headers=headers), 400),
        (
            requests.put(
                url + "/v1/services/web",
                data=b"x",
                headers={**headers, "Content-Type": "text/plain"},
            ),
            415,
        ),
        (requests.get(url + "/v1/services"), 401),
    ]
    for response, status in cases:
        assert response.status_code == status
        assert response.headers["Content-Type"] == "application/json"
        assert response.json()["error"]["status"] == status


def test_requests_gunicorn_refuses_itself_get_the_same_shape(live_api, headers):
    """A request line over 4 KiB or a broken header never reaches Flask; gunicorn answers."""
    cases = [
        (requests.get(live_api.url + "/v1/services/" + "a" * 5000, headers=headers), 414),
        (requests.get(live_api.url + "/v1/whoami", headers={"Bad Header": "x"}), 400),
    ]
    for response, status in cases:
        assert response.status_code == status
        assert response.headers["Content-Type"] == "application/json"
        err = response.json()["error"]
        assert err["status"] == status and err["code"] == "invalid_request"
