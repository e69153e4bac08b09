"""The public API tried from outside: bodies that are not what the document says (a key
twice, NaN, a field it does not know, another media type, bytes that are not UTF-8), the
document itself (valid OpenAPI 3.1, built once), and nothing of a request's token in the
access log (docs/api.md, "Errors")."""

from __future__ import annotations

import json

import pytest

from essmon.commands.models import Command
from tests.api.test_setting_changes import gw, path  # noqa: F401 (fixture)
from tests.api_helpers import PREFIX, ApiClient, make_token, problem

pytestmark = pytest.mark.django_db


def _post(api: ApiClient, url: str, raw: bytes | str, content_type: str = "application/json"):
    return api.client.post(
        PREFIX + url,
        data=raw,
        content_type=content_type,
        headers={"Authorization": f"Bearer {api.token}"},
    )


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ('{"values": {"reserve_soc_pct": 30, "reserve_soc_pct": 80}}', "same key twice"),
        ('{"values": {"reserve_soc_pct": 30}, "values": {"mode": "green"}}', "same key twice"),
        ('{"values": {"reserve_soc_pct": NaN}}', "NaN, which JSON does not have"),
        ('{"values": {"export_limit_w": -Infinity}}', "-Infinity, which JSON does not have"),
        ('{"values": {"mode": "green"}', "not JSON: Expecting ',' delimiter at line 1, column 29"),
        (b'{"values": {"mode": "\xff"}}', "not UTF-8 (byte 21 is not)"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_a_body_that_is_not_plain_json_is_refused_saying_why(gw, raw, detail):  # noqa: F811
    api = ApiClient(make_token(gw.owner))
    body = problem(_post(api, path(gw), raw), 400)
    assert detail in body["detail"]
    assert not Command.objects.exists()


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/jsonx"]
)
def test_a_body_of_another_media_type_is_415(gw, content_type):  # noqa: F811
    api = ApiClient(make_token(gw.owner))
    response = _post(api, path(gw), '{"values": {"mode": "green"}}', content_type)
    assert problem(response, 415)["type"].endswith("unsupported-media-type")
    assert not Command.objects.exists()
    # JSON's own media types are JSON
    for media, values in (
        ("application/json; charset=utf-8", '{"mode": "green"}'),
        ("application/merge-patch+json", '{"reserve_soc_pct": 30}'),
    ):
        assert _post(api, path(gw), f'{{"values": {values}}}', media).status_code == 201


def test_a_field_the_operation_does_not_know_is_named_not_ignored(gw):  # noqa: F811
    api = ApiClient(make_token(gw.owner))
    response = _post(api, path(gw), '{"values": {"mode": "green"}, "dry_run": true}')
    body = problem(response, 422)
    assert [e["location"] for e in body["errors"]] == ["body.dry_run"]
    assert not Command.objects.exists()


def test_the_document_is_valid_openapi_3_1_and_declares_413_and_415_on_bodies():
    from openapi_spec_validator import validate

    document = json.loads(ApiClient(None).client.get(f"{PREFIX}/openapi.json").content)
    validate(document)  # raises on any fault, with its place
    for operations in document["paths"].values():
        for method, operation in operations.items():
            if "requestBody" in operation:
                for status in ("413", "415"):
                    assert status in operation["responses"], (method, operation["operationId"])


def test_the_document_is_built_once_not_per_request(monkeypatch):
    """Anyone may ask for it, without a token or a limit; building it takes tens of ms."""
    from ninja import NinjaAPI

    from essmon.api.app import api

    built = []
    original = NinjaAPI.get_openapi_schema

    def counting(self, **kwargs):
        built.append(1)
        return original(self, **kwargs)

    monkeypatch.setattr(NinjaAPI, "get_openapi_schema", counting)
    monkeypatch.setattr(api, "_documents", {})
    client = ApiClient(None).client
    answers = [client.get(f"{PREFIX}/openapi.json") for _ in range(5)]
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert len(built) == 1


def test_more_tokens_buy_no_more_requests(settings):
    from tests import factories

    settings.API_REQUESTS_PER_MINUTE = 3
    settings.API_REQUESTS_PER_USER_PER_MINUTE = 5
    owner = factories.customer()
    tokens = [ApiClient(make_token(owner, name=f"t{i}")) for i in range(3)]
    answers = [api.get("/gateways") for api in tokens for _ in range(2)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    body = problem(answers[-1], 429)
    assert "this person's tokens together" in body["detail"]
    assert 1 <= int(answers[-1]["Retry-After"]) <= 61
    # another person's tokens count apart
    assert ApiClient(make_token(factories.customer())).get("/gateways").status_code == 200


def test_more_than_django_reads_is_the_callers_problem_not_a_500(gw):  # noqa: F811
    api = ApiClient(make_token(gw.owner))
    raw = '{"values": {"mode": "green"}, "pad": "' + "a" * 3_000_000 + '"}'
    body = problem(_post(api, path(gw), raw), 413)
    assert "larger than 2621440 bytes" in body["detail"]
    many = {f"k{i}": "1" for i in range(1_100)}
    body = problem(api.get("/gateways", **many), 400)
    assert "more than 1000 parameters" in body["detail"]
    assert not Command.objects.exists()


def test_head_is_a_get_without_its_body(gw):  # noqa: F811
    api = ApiClient(make_token(gw.owner))
    url = f"{PREFIX}/gateways/{gw.gateway_id}"
    auth = {"Authorization": f"Bearer {api.token}"}
    got = api.client.get(url, headers=auth)
    head = api.client.head(url, headers=auth)
    assert head.status_code == 200 and head.content == b""
    assert head["ETag"] == got["ETag"]
    assert int(head["Content-Length"]) == len(got.content)
    refused = api.client.head(url)  # the token is checked as for GET
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")
    # a path that takes only POST answers HEAD as any other method it does not take
    response = api.client.head(f"{PREFIX}/gateways/{gw.gateway_id}/alerts/1/acknowledge")
    assert response.status_code == 405 and "POST" in response["Allow"]


def test_a_parameter_given_twice_is_refused_not_read_as_its_last_value(gw):  # noqa: F811
    api = ApiClient(make_token(gw.owner))
    for path_, query in (
        ("/gateways", {"limit": ["1", "100"]}),
        ("/alerts", {"state": ["open", "closed"]}),
        (f"/gateways/{gw.gateway_id}/energy", {"date": ["2026-01-01", "2026-01-02"]}),
    ):
        body = problem(api.get(path_, **query), 422)
        (name,) = query
        assert body["errors"] == [{"location": f"query.{name}", "message": "given more than once"}]
