"""The OpenAPI document covers ingest, events, persons, metrics and dashboards."""

from __future__ import annotations

import importlib.util

import pytest

CONTRACT_PATHS = [
    ("/v1/batch", "post"),
    ("/v1/track", "post"),
    ("/v1/events", "get"),
    ("/v1/rejected", "get"),
    ("/v1/metrics", "post"),
    ("/v1/metrics", "get"),
    ("/v1/metrics/{key}", "put"),
    ("/v1/metrics/{key}", "delete"),
    ("/v1/metrics/{key}/tile", "get"),
    ("/v1/query", "post"),
    ("/v1/dashboards", "post"),
    ("/v1/dashboards/{key}", "get"),
    ("/v1/dashboards/{key}", "put"),
    ("/v1/dashboards/{key}", "delete"),
    ("/health", "get"),
]


@pytest.fixture
def document(api):
    response = api.session.get(api.server.url + "/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_openapi_needs_no_key(api):
    response = api.session.get(api.server.url + "/v1/openapi.json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")


@pytest.mark.parametrize(("path", "method"), CONTRACT_PATHS)
def test_openapi_lists_contract_endpoint(document, path, method):
    assert method in document["paths"][path]


def test_openapi_persons_endpoints_when_present(document):
    if importlib.util.find_spec("pug_server.api.persons") is None:
        pytest.skip("the persons API is not part of this build")
    assert "/v1/persons/{distinct_id}" in document["paths"]
    assert "/v1/groups/{group_type}/{group_key}" in document["paths"]


def test_openapi_tile_parameters_from_schema(document):
    parameters = document["paths"]["/v1/metrics/{key}/tile"]["get"]["parameters"]
    names = {parameter["name"] for parameter in parameters}
    assert {
        "key",
        "period",
        "at",
        "compare",
        "timezone",
        "week_start",
        "segment_by",
    } <= names
    compare = next(
        parameter for parameter in parameters if parameter["name"] == "compare"
    )
    assert compare["schema"]["enum"] == ["previous", "previous_to_date", "year", "none"]


def test_openapi_tile_response_schema(document):
    response = document["paths"]["/v1/metrics/{key}/tile"]["get"]["responses"]["200"]
    reference = response["content"]["application/json"]["schema"]["$ref"]
    tile = document["components"]["schemas"][reference.rpartition("/")[2]]
    assert {"current", "previous", "change", "series", "segments"} <= set(
        tile["properties"]
    )


def test_openapi_metric_request_schema(document):
    body = document["paths"]["/v1/metrics"]["post"]["requestBody"]
    reference = body["content"]["application/json"]["schema"]["$ref"]
    metric = document["components"]["schemas"][reference.rpartition("/")[2]]
    assert set(metric["required"]) == {"key", "name", "measure"}


def test_openapi_security_schemes(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["readKey"]["scheme"] == "bearer"
    assert document["paths"]["/v1/batch"]["post"]["security"] == [{"writeKey": []}]
    assert document["paths"]["/health"]["get"]["security"] == []


def test_openapi_dashboard_put_schema(document):
    operation = document["paths"]["/v1/dashboards/{key}"]["put"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    dashboard = document["components"]["schemas"][body["$ref"].rpartition("/")[2]]
    assert {"north_star", "inputs"} <= set(dashboard["properties"])
    assert {"200", "404", "422"} <= set(operation["responses"])
