"""The public API's framework: tokens on every request, problems for every error, the
limits, the cursor and the ETag (docs/api.md)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from essmon.api.models import AccessToken
from essmon.api.pagination import decode_cursor, encode_cursor
from essmon.api.problems import ApiProblem
from essmon.api.selectors import digest_of
from tests import factories
from tests.api_helpers import PREFIX, ApiClient, make_token, problem

pytestmark = pytest.mark.django_db


def test_the_document_is_openapi_3_1_with_problems():
    response = ApiClient(None).client.get(f"{PREFIX}/openapi.json")
    assert response.status_code == 200
    document = json.loads(response.content)
    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status in ("401", "404", "422", "429"):
                content = operation["responses"][status]["content"]
                assert list(content) == ["application/problem+json"], (path, method, status)


def test_missing_and_unknown_tokens_are_401_with_www_authenticate():
    for token in (None, "", "essmon_pat_nope", "x" * 5000, "essmon_pat_\x00"):
        response = ApiClient(token).get("/gateways")
        problem(response, 401)
        assert response["WWW-Authenticate"].startswith("Bearer")
    response = ApiClient(None).get("/gateways", headers={"Authorization": "Basic abc"})
    problem(response, 401)


def test_the_secret_is_kept_only_as_its_digest():
    owner = factories.customer()
    secret = make_token(owner)
    token = AccessToken.objects.get(user=owner)
    assert token.digest == digest_of(secret)
    assert secret not in json.dumps(
        [token.name, token.prefix, token.digest, token.scopes], ensure_ascii=False
    )
    assert ApiClient(secret).get("/gateways").status_code == 200


def test_expired_revoked_and_deactivated_answer_401():
    owner = factories.customer()
    expired = make_token(owner, expires_at=timezone.now() + timedelta(seconds=1))
    AccessToken.objects.filter(digest=digest_of(expired)).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    problem(ApiClient(expired).get("/gateways"), 401)
    revoked = make_token(owner)
    AccessToken.objects.filter(digest=digest_of(revoked)).update(revoked_at=timezone.now())
    problem(ApiClient(revoked).get("/gateways"), 401)
    live = make_token(owner)
    assert ApiClient(live).get("/gateways").status_code == 200
    owner.is_active = False
    owner.save()
    problem(ApiClient(live).get("/gateways"), 401)


def test_last_use_is_noted_at_most_once_a_minute():
    owner = factories.customer()
    secret = make_token(owner)
    api = ApiClient(secret)
    api.get("/gateways")
    first = AccessToken.objects.get(user=owner).last_used_at
    assert first is not None
    api.get("/gateways")
    assert AccessToken.objects.get(user=owner).last_used_at == first


def test_scope_is_the_only_403():
    owner = factories.customer()
    settings_only = make_token(owner, scopes=["settings"])
    body = problem(ApiClient(settings_only).get("/gateways"), 403)
    assert body["type"].endswith("insufficient-scope")


def test_validation_errors_name_their_field():
    api = ApiClient(make_token(factories.customer()))
    body = problem(api.get("/gateways", limit="lots"), 422)
    assert body["errors"][0]["location"] == "query.limit"
    for limit in ("0", "101", "9" * 400):
        problem(api.get("/gateways", limit=limit), 422)
    body = problem(api.get("/gateways", state="sleeping"), 422)
    assert body["errors"][0]["location"] == "query.state"


def test_unknown_paths_and_methods_are_problems():
    api = ApiClient(make_token(factories.customer()))
    problem(api.get("/no-such-thing"), 404)
    problem(api.get("/gateways/"), 404)
    response = api.post("/gateways")
    problem(response, 405)
    assert "GET" in response["Allow"]


def test_unexpected_errors_are_a_500_problem_that_says_nothing(monkeypatch, caplog):
    import essmon.api.endpoints.gateways as gateways

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(gateways, "fleet", broken)
    response = ApiClient(make_token(factories.customer())).get("/gateways")
    body = problem(response, 500)
    assert "secret internals" not in response.content.decode()
    assert body["type"].endswith("server-error")
    assert "secret internals" in caplog.text


def test_requests_per_token_are_limited_with_retry_after(settings):
    settings.API_REQUESTS_PER_MINUTE = 3
    api = ApiClient(make_token(factories.customer()))
    for _ in range(3):
        assert api.get("/gateways").status_code == 200
    response = api.get("/gateways")
    problem(response, 429)
    assert 1 <= int(response["Retry-After"]) <= 61


def test_failed_authentication_is_limited_per_address(settings):
    settings.API_AUTH_FAILURES_PER_ADDRESS_PER_HOUR = 2
    good = make_token(factories.customer())
    for _ in range(2):
        problem(ApiClient("essmon_pat_wrong").get("/gateways"), 401)
    response = ApiClient("essmon_pat_wrong").get("/sites")
    problem(response, 429)
    assert int(response["Retry-After"]) > 60
    # the address is paused, whatever the token: the rule is one for every path
    problem(ApiClient(good).get("/gateways"), 429)


@pytest.mark.parametrize(
    "cursor",
    ["garbage", "", "x" * 600, encode_cursor(after="A", context="other"), "\x00", "a:b:c"],
)
def test_bad_cursors_are_400(cursor):
    api = ApiClient(make_token(factories.customer()))
    response = api.get("/gateways", cursor=cursor)
    if cursor == "":
        assert response.status_code == 200
    else:
        problem(response, 400)


def test_cursor_round_trip():
    cursor = encode_cursor(after="GW1", context="gateways|")
    assert decode_cursor(cursor, context="gateways|") == "GW1"
    with pytest.raises(ApiProblem):
        decode_cursor(cursor, context="gateways|online")


@pytest.mark.parametrize(
    "path",
    [
        "/gateways/%00",
        "/gateways/%01%02",
        "/gateways/" + "9" * 5000,
        "/gateways/%E2%80%AE",
        "/gateways/..%2F..%2Fadmin",
        "/gateways/x/live/extra",
    ],
)
def test_hostile_paths_are_404_problems(path):
    problem(ApiClient(make_token(factories.customer())).get(path), 404)


@pytest.mark.parametrize(
    "query",
    [
        {"state": "\x00"},
        {"state": "online\r\nX-Injected: 1"},
        {"limit": "1e9"},
        {"limit": "-1"},
        {"limit": "１０"},
    ],
)
def test_hostile_queries_are_422_problems(query):
    problem(ApiClient(make_token(factories.customer())).get("/gateways", **query), 422)


def test_a_token_with_odd_characters_is_401_not_500():
    for token in ("essmon_pat_\u202e\u0000", "essmon_pat_" + "\udcff", "Bearer", "essmon_pat_ x"):
        problem(ApiClient(token).get("/sites"), 401)
