"""The served OpenAPI document describes exactly the routes the app has."""

import re

METHODS = {"GET", "PUT", "POST", "DELETE", "PATCH"}


def app_routes(app) -> dict[str, set[str]]:
    """The API's routes (under /v1; the web view's page and files are not part of the API)."""
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/v1/"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        routes.setdefault(path, set()).update(rule.methods & METHODS)
    return routes


def test_document_is_served_as_json(client):
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    doc = response.get_json()
    assert doc["openapi"].startswith("3.") and doc["info"]["title"] == "SWS apiserver"


def test_document_describes_every_route_and_method(app, client):
    doc = client.get("/v1/openapi.json").get_json()
    documented = {
        path: {m.upper() for m in item if m.upper() in METHODS}
        for path, item in doc["paths"].items()
    }
    assert documented == app_routes(app)


def test_every_operation_documents_its_errors(client):
    doc = client.get("/v1/openapi.json").get_json()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            codes = set(operation["responses"])
            if operation.get("security", doc["security"]):
                assert {"401", "503"} <= codes, (method, path)
            assert operation["summary"], (method, path)


def test_error_codes_in_the_document_are_the_api_codes(client):
    from swsapi.errors import HTTP_CODES

    doc = client.get("/v1/openapi.json").get_json()
    codes = set(
        doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
    )
    assert set(HTTP_CODES.values()) <= codes
    assert {"invalid_definition", "invalid_request", "database_unavailable", "internal"} <= codes
