"""Telemetry ingest over HTTPS: valid samples stored once, every refusal precise, nothing
valid in the same batch lost (docs/gateway-protocol.md)."""

import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from essmon.gateways.models import Gateway
from essmon.gateways.services.credentials import rotate_device_secret
from essmon.telemetry.ingest import (
    CHOICES,
    MAX_SAMPLES_PER_BATCH,
    NUMBERS,
    SampleError,
    check_samples,
    decode_message,
    decode_sample_batch,
    ingest_samples,
    sample_checker,
    validate_sample,
)
from essmon.telemetry.models import GatewayLiveState, Sample
from essmon.telemetry.partitions import oldest_accepted_ts
from tests import factories
from tests.factories import sample

pytestmark = pytest.mark.django_db
URL = "/api/v1/telemetry"


@pytest.fixture
def gw():
    return factories.connected_gateway(provisioned_days_ago=30)


def post(client, gw, body, secret=None, content_type="application/json", gateway_id=None):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    auth = f"Gateway {gateway_id or gw.gateway_id}:{secret or gw.secret}"
    return client.post(URL, data, content_type=content_type, HTTP_AUTHORIZATION=auth)


def test_url_is_the_documented_one():
    assert reverse("telemetry:telemetry") == URL


def test_a_batch_is_stored_and_a_resend_is_only_duplicates(client, gw):
    batch = {
        "gateway_id": gw.gateway_id,
        "samples": [sample(10 - m, minutes_ago=m) for m in range(5)],
    }
    first = post(client, gw, batch)
    assert first.status_code == 200
    assert first.json() == {"accepted": 5, "duplicates": 0, "rejected": []}
    again = post(client, gw, batch)
    assert again.json() == {"accepted": 0, "duplicates": 5, "rejected": []}
    assert Sample.objects.filter(gateway=gw).count() == 5
    stored = Sample.objects.get(gateway=gw, seq=10)
    assert stored.grid_w == -400 and stored.pcs_mode == "economy"
    live = GatewayLiveState.objects.get(gateway=gw)
    assert live.last_seq == 10 and live.latest["soc_pct"] == 55.0


def test_same_instant_twice_in_one_batch_is_one_sample(client, gw):
    batch = {
        "gateway_id": gw.gateway_id,
        "samples": [sample(1, minutes_ago=1), sample(1, minutes_ago=1)],
    }
    assert post(client, gw, batch).json() == {"accepted": 1, "duplicates": 1, "rejected": []}


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"soc_pct": 130}, "soc_pct: 130 is above 100"),
        ({"pv_w": -5}, "pv_w: -5 is below 0"),
        ({"grid_w": "1500"}, "grid_w: expected a number, got str"),
        ({"load_w": True}, "load_w: expected a number, got bool"),
        ({"battery_temp_c": 120}, "battery_temp_c: 120 is above 100"),
        ({"seq": -1}, "seq: expected a whole number"),
        ({"seq": 1.5}, "seq: expected a whole number"),
        ({"pcs_mode": "turbo"}, "pcs_mode: 'turbo' is not one of"),
        ({"ts": "2026-11-24T10:00:00"}, "has no time zone offset"),
        ({"ts": "yesterday"}, "is not an ISO 8601 timestamp"),
        ({"ts": 1732400000}, "ts: expected an ISO 8601 string"),
    ],
)
def test_each_bad_value_is_named_and_the_rest_of_the_batch_kept(client, gw, overrides, reason):
    bad = {**sample(2, minutes_ago=1), **overrides}
    batch = {"gateway_id": gw.gateway_id, "samples": [sample(1, minutes_ago=2), bad]}
    body = post(client, gw, batch).json()
    assert body["accepted"] == 1 and body["duplicates"] == 0
    (rejected,) = body["rejected"]
    assert rejected["index"] == 1 and reason in rejected["reason"], rejected
    assert Sample.objects.filter(gateway=gw).count() == 1


def test_missing_fields_and_non_objects(client, gw):
    broken = sample(minutes_ago=1)
    del broken["soc_pct"], broken["pcs_state"]
    body = post(client, gw, {"gateway_id": gw.gateway_id, "samples": [broken, 42]}).json()
    assert body["rejected"][0]["reason"] == "missing field(s): soc_pct, pcs_state"
    assert body["rejected"][1]["reason"] == "sample: expected a JSON object"


def test_timestamps_too_far_ahead_or_before_provisioning(client, gw):
    ahead = (timezone.now() + timedelta(days=1, minutes=5)).isoformat()
    before = (gw.provisioned_at - timedelta(minutes=1)).isoformat()
    body = post(
        client, gw, {"gateway_id": gw.gateway_id, "samples": [sample(ts=ahead), sample(ts=before)]}
    ).json()
    reasons = [r["reason"] for r in body["rejected"]]
    assert (
        "more than a day ahead" in reasons[0] and "before the gateway was provisioned" in reasons[1]
    )


@pytest.mark.parametrize(
    ("kwargs", "status", "message"),
    [
        ({"secret": "W" * 32}, 401, "unknown gateway or wrong secret"),
        ({"gateway_id": "99ZZ99999999"}, 401, "unknown gateway or wrong secret"),
        ({"content_type": "text/plain"}, 415, "Content-Type must be application/json"),
    ],
)
def test_refusals_before_reading_the_batch(client, gw, kwargs, status, message):
    response = post(client, gw, {"gateway_id": gw.gateway_id, "samples": [sample()]}, **kwargs)
    assert response.status_code == status and message in response.json()["error"]
    assert not Sample.objects.exists()


def test_no_or_malformed_authorization_header(client, gw):
    body = json.dumps({"gateway_id": gw.gateway_id, "samples": []})
    for header in (None, "Bearer abc", f"Gateway {gw.gateway_id}", "Gateway :x"):
        extra = {"HTTP_AUTHORIZATION": header} if header else {}
        response = client.post(URL, body, content_type="application/json", **extra)
        assert response.status_code == 401


def test_one_gateway_posting_as_another_is_forbidden(client, gw):
    other = factories.owned_gateway()
    response = post(client, gw, {"gateway_id": other.gateway_id, "samples": [sample()]})
    assert response.status_code == 403
    assert not Sample.objects.exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "body is not valid JSON"),
        ("[1, 2]", "body must be a JSON object"),
        (b"\xff\xfe", "body is not UTF-8"),
    ],
)
def test_malformed_bodies(client, gw, body, message):
    response = post(client, gw, body)
    assert response.status_code == 400 and message in response.json()["error"]


def test_samples_must_be_an_array(client, gw):
    response = post(client, gw, {"gateway_id": gw.gateway_id, "samples": {"ts": "x"}})
    assert (
        response.status_code == 400 and "samples: expected a JSON array" in response.json()["error"]
    )


def test_oversize_batches(client, gw):
    too_many = {"gateway_id": gw.gateway_id, "samples": [sample(i) for i in range(1001)]}
    assert post(client, gw, too_many).status_code == 413
    huge = json.dumps({"gateway_id": gw.gateway_id, "samples": [], "pad": "x" * (1024 * 1024)})
    response = post(client, gw, huge)
    assert response.status_code == 413 and "at most 1048576" in response.json()["error"]


def test_get_is_not_allowed(client):
    assert client.get(URL).status_code == 405


def test_rotated_secret_stops_working_at_once(client, gw):
    old = gw.secret
    rotate_device_secret(gateway=gw)
    response = post(client, gw, {"gateway_id": gw.gateway_id, "samples": [sample()]}, secret=old)
    assert response.status_code == 401


def test_ingest_core_directly_is_idempotent(gw):
    samples = [sample(100 - m, minutes_ago=m) for m in range(3)]
    assert ingest_samples(gateway=gw, samples=samples).accepted == 3
    result = ingest_samples(gateway=gw, samples=[*samples, sample(90, minutes_ago=10)])
    assert (result.accepted, result.duplicates) == (1, 3)
    assert Sample.objects.filter(gateway=gw).count() == 4


def test_samples_older_than_the_raw_retention_are_refused(settings):
    settings.RAW_RETENTION_MONTHS = 2
    old = factories.connected_gateway(provisioned_days_ago=400)
    result = ingest_samples(
        gateway=old, samples=[sample(1, minutes_ago=60 * 24 * 100), sample(2, minutes_ago=0)]
    )
    assert result.accepted == 1
    (refusal,) = result.rejected
    assert refusal["index"] == 0 and "older than the 2 months of raw samples" in refusal["reason"]


def test_a_busy_database_answers_503_to_send_again(client, gw, monkeypatch):
    from django.db import OperationalError

    def busy(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr("essmon.telemetry.api.store_sample_batches", busy)
    response = post(client, gw, {"gateway_id": gw.gateway_id, "samples": [sample()]})
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert "send again" in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "not usable JSON"),
        ('{"gateway_id": "x", "n": ' + "9" * 5000 + "}", "not usable JSON"),
        ('{"gateway_id": "\\u0000"}', "NUL character"),
    ],
)
def test_json_python_or_postgresql_cannot_take_is_a_400(client, gw, body, message):
    response = post(client, gw, body)
    assert response.status_code == 400 and message in response.json()["error"]


# --- the batch's fast path against validate_sample ----------------------------------------

_NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
_FIELD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([10**309, -(10**309), 2**63, 2**63 - 1]),  # past a float's, a bigint's
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [0.0, -0.0, 100.0, 100_000.0, 100_000.000_001, -40.0, 2.0**63, 1e308, math.inf, -math.inf]
    ),
    st.just(math.nan),
    st.sampled_from(["running", "fault", "economy", "green", "Running", ""]),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.sampled_from(
        [
            "2026-11-20T02:00:00+00:00",
            "2026-11-20T11:00:00+09:00",
            "2026-11-20T02:00:00",  # no offset
            "2026-11-20T02:00:00+05:30:15.5",
            "2026-11-21T03:00:00+00:00",  # exactly a day ahead
            "2026-11-21T03:00:00.000001+00:00",
            "2026-10-21T03:00:00+00:00",  # exactly at provisioning
            "2026-10-21T02:59:59+00:00",
            "2023-01-01T00:00:00+00:00",  # past the retention
            "not a time",
            "2026-11-20T02:00:00+00:00" + " " * 60,
        ]
    ),
)


_EDGES = [
    None, True, False, 0, -1, 1, 2**63 - 1, 2**63, 10**309, -(10**309),
    0.0, -0.0, 100.0, 100.000_001, 100_000.0, 100_000.000_001, -100_000.0, -100_000.000_001,
    -40.0, -40.000_001, 2.0**63, 1e308, math.inf, -math.inf, math.nan,
    "", "running", "fault", "Running", "economy", "green", "storage_priority", "1.0", [1], {},
    "2026-11-20T02:00:00+00:00", "2026-11-20T11:00:00+09:00", "2026-11-20T02:00:00",
    "2026-11-20T02:00:00+05:30:15.5", "2026-11-21T03:00:00+00:00",
    "2026-11-21T03:00:00.000001+00:00", "2026-10-21T03:00:00+00:00",
    "2026-10-21T02:59:59+00:00", "2023-01-01T00:00:00+00:00", "not a time",
    "2026-11-20T02:00:00+00:00" + " " * 60,
]  # fmt: skip


def _same_verdict(raw: object) -> None:
    gateway = Gateway(provisioned_at=_NOW - timedelta(days=30))
    oldest = oldest_accepted_ts(_NOW)

    def outcome(check):
        try:
            return check(raw)
        except SampleError as exc:
            return f"refused: {exc}"

    slow = outcome(lambda r: validate_sample(r, gateway=gateway, now=_NOW, oldest=oldest))
    fast = outcome(sample_checker(gateway=gateway, now=_NOW, oldest=oldest))
    assert repr(fast) == repr(slow)  # repr: NaN != NaN, and -0.0 == 0.0


@pytest.mark.parametrize("name", ["ts", "seq", *NUMBERS, *CHOICES])
def test_the_batch_checker_judges_each_edge_value_as_validate_sample(name):
    """sample_checker, the ingest's per-batch fast path, must give validate_sample's clean
    sample or its very refusal: every field at and past its bounds, and of every type."""
    for value in _EDGES:
        _same_verdict({**sample(7, ts="2026-11-20T02:00:00+00:00"), name: value})
    _same_verdict({k: v for k, v in sample(7).items() if k != name})


@hypothesis_settings(max_examples=300)
@given(
    changes=st.dictionaries(
        st.sampled_from(("ts", "seq", *NUMBERS, *CHOICES, "extra")), _FIELD_VALUES, max_size=4
    ),
    # mostly whole samples, so that the changed values are what gets judged
    dropped=st.one_of(
        st.just(set()), st.just(set()), st.sets(st.sampled_from(("ts", "seq", *NUMBERS, *CHOICES)))
    ),
    not_a_dict=st.sampled_from([False] * 9 + [True]),
)
def test_the_batch_checker_passes_and_refuses_exactly_as_validate_sample(
    changes, dropped, not_a_dict
):
    """The same, for any mix of changed, missing and odd fields."""
    raw: object = {**sample(7, ts="2026-11-20T02:00:00+00:00"), **changes}
    for name in dropped:
        raw.pop(name, None)
    _same_verdict(list(raw.items()) if not_a_dict else raw)


# --- the typed fast path against the general way -------------------------------------------

_GATEWAY_ID = "01AB00000042"


def _general(body: bytes, gateway: Gateway, oldest: datetime) -> str:
    """What the general way makes of a telemetry body: decode_message, the batch's checks
    (as both transports make them) and check_samples."""
    try:
        decoded = decode_message(body)
    except SampleError as exc:
        return f"refused: {exc}"
    if decoded.get("gateway_id") != gateway.gateway_id:
        return "refused: not the gateway's"
    samples = decoded.get("samples")
    if not isinstance(samples, list) or len(samples) > MAX_SAMPLES_PER_BATCH:
        return "refused: no batch"
    batch = check_samples(gateway, samples, now=_NOW, oldest=oldest)
    return repr((batch.result, batch.rows))  # repr: NaN != NaN, and -0.0 == 0.0


def _same_batch(body: bytes) -> bool:
    """decode_sample_batch either declines (None) or gives what the general way gives;
    whether it took the body."""
    gateway = Gateway(gateway_id=_GATEWAY_ID, provisioned_at=_NOW - timedelta(days=30))
    oldest = oldest_accepted_ts(_NOW)
    fast = decode_sample_batch(body, gateway=gateway, now=_NOW, oldest=oldest)
    if fast is None:
        return False
    assert repr((fast.result, fast.rows)) == _general(body, gateway, oldest), body
    return True


def _body(samples: list, **top) -> bytes:
    return json.dumps({"gateway_id": _GATEWAY_ID, "samples": samples, **top}).encode()


def _at(seq: int) -> dict:
    return sample(seq, ts=(_NOW - timedelta(hours=1, seconds=-seq)).isoformat())


def test_the_fast_path_takes_plain_batches_repeats_included():
    assert _same_batch(_body([_at(1)]))
    assert _same_batch(_body([_at(n) for n in range(1000)]))
    assert _same_batch(_body([_at(1), _at(2), _at(1)]))  # a repeat: a duplicate
    assert _same_batch(_body([]))
    # as the simulator and the benchmark write them: other spacing, ints for floats
    assert _same_batch(json.dumps({"gateway_id": _GATEWAY_ID, "samples": [_at(1)]}).encode())
    text = json.dumps({"samples": [{**_at(1), "pv_w": 1200}], "gateway_id": _GATEWAY_ID})
    assert _same_batch(text.replace(", ", ",").replace(": ", ":").encode())


@pytest.mark.parametrize(
    "body",
    [
        _body([_at(1)], extra=1),  # an unknown field, anywhere
        _body([{**_at(1), "note": "x"}]),
        _body([_at(n) for n in range(1001)]),  # too many
        json.dumps({"gateway_id": "01AB00000043", "samples": [_at(1)]}).encode(),
        _body([{**_at(1), "pcs_mode": "\\u0067reen"}]).replace(b"\\\\", b"\\"),  # an escape
        _body([{**_at(1), "pcs_mode": "グリーン"}], ensure_ascii=False),
        _body([_at(1)]).replace(b"1200.0", b"NaN"),
        _body([_at(1)]).replace(b"1200.0", b"1e400"),
        _body([_at(1)]).replace(b'"seq": 1', b'"seq": 1.0'),
        _body([_at(1)]).replace(b'"seq": 1', b'"seq": true'),
        _body([{**_at(1), "soc_pct": 100.000001}]),
        _body([{**_at(1), "ts": "2026-11-20T02:00:00"}]),  # no offset
        _body([{**_at(1), "ts": "2023-01-01T00:00:00+00:00"}]),  # past the retention
        b'\xef\xbb\xbf{"gateway_id": "01AB00000042", "samples": []}',  # a BOM
        b'{"gateway_id": "01AB00000042", "samples": []} []',
        b'[{"gateway_id": "01AB00000042", "samples": []}]',
    ],
)
def test_the_fast_path_declines_what_it_must_not_judge(body):
    assert not _same_batch(body)


def _json_number() -> st.SearchStrategy[str]:
    """Numbers as JSON texts, most of them valid, some only Python's json reads, some none."""
    digits = st.from_regex(
        r"-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,30})?([eE][+-]?[0-9]{1,3})?", fullmatch=True
    )
    odd = st.sampled_from(
        ["NaN", "Infinity", "-Infinity", "01", "1.", ".5", "+1", "1e", "-", "0x10", "1_0"]
    )
    return st.one_of(digits, digits, odd)


def _in_range(name: str) -> st.SearchStrategy[str]:
    """A value within the field's bounds, written as JSON allows it in many ways: the
    fast path's own parsing of numbers is what this holds against Python's."""
    low, high = NUMBERS[name]
    value = st.floats(min_value=low, max_value=min(high, 1e300))
    return st.one_of(
        value.map(repr),
        value.map(lambda v: f"{v:.17e}"),
        value.map(lambda v: f"{v:.3E}".replace("E+", "E")),
        value.map(lambda v: f"{v:.25f}"),
        st.integers(min_value=math.ceil(low), max_value=int(min(high, 1e30))).map(str),
        st.sampled_from(["-0", "-0.0", "0e5", "100000.00000000000001", "99999.9999999999999999"]),
    )


_SPACE = st.sampled_from(["", " ", " ", "\t", "\n", "\r\n", "\x0c", "\x0b", "\x00", "\u00a0"])


@st.composite
def _telemetry_bodies(draw) -> bytes:
    """A telemetry body written by hand, field by field: valid values mostly, written in
    JSON's many ways; sometimes a field replaced by a JSON text of another kind or a raw
    number, a key repeated, dropped or added, odd white space between the tokens."""
    count = draw(st.integers(min_value=0, max_value=4))
    samples = []
    for seq in range(count):
        fields = {k: json.dumps(v) for k, v in _at(seq).items()}
        for name in draw(st.sets(st.sampled_from(sorted(NUMBERS)), max_size=4)):
            fields[name] = draw(_in_range(name))
        if draw(st.integers(0, 3)) == 0:  # a change the general way may well refuse
            name = draw(st.sampled_from([*fields, "extra"]))
            fields[name] = draw(
                st.one_of(
                    _json_number(),
                    _FIELD_VALUES.map(json.dumps),
                    st.sampled_from(['"running"', '"green"', "true", "null", "[]", "{}"]),
                )
            )
        if draw(st.integers(0, 9)) == 0:
            del fields[draw(st.sampled_from(sorted(fields)))]
        space = draw(_SPACE) if draw(st.integers(0, 4)) == 0 else " "
        pairs = [f'"{k}"{space}:{space}{v}' for k, v in fields.items()]
        if pairs and draw(st.integers(0, 9)) == 0:  # a key twice: the last one counts
            name = draw(st.sampled_from(sorted(NUMBERS)))
            pairs.append(f'"{name}": {draw(st.one_of(_in_range(name), _json_number()))}')
        samples.append("{" + f",{space}".join(pairs) + "}")
    space = draw(_SPACE) if draw(st.integers(0, 4)) == 0 else ""
    gateway = f'"{_GATEWAY_ID}"' if draw(st.integers(0, 9)) else '"01AB00000043"'
    text = (
        f'{space}{{"gateway_id":{space}{gateway}, "samples": [{",".join(samples)}]{space}}}{space}'
    )
    return text.encode()


@hypothesis_settings(max_examples=500, deadline=None)
@given(body=_telemetry_bodies())
def test_the_fast_path_passes_only_what_the_general_way_passes_and_alike(body):
    """Whatever a body holds, the fast path gives exactly the general way's rows and counts,
    or leaves the body to it."""
    _same_batch(body)


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    changes=st.dictionaries(
        st.sampled_from(("ts", "seq", *NUMBERS, *CHOICES, "extra")), _FIELD_VALUES, max_size=3
    ),
    repeat=st.booleans(),
)
def test_the_fast_path_judges_changed_fields_as_the_general_way(changes, repeat):
    samples = [_at(1), {**_at(2), **changes}]
    _same_batch(_body(samples + [samples[1]] * repeat))


# --- a request's own transaction (not the test's): what the HTTPS path does in production ----


@pytest.mark.django_db(transaction=True)
def test_in_its_own_transaction_a_resend_and_a_mix_are_counted_right(client):
    gw = factories.connected_gateway()
    first = [sample(n, minutes_ago=10 - n) for n in range(3)]
    assert post(client, gw, {"gateway_id": gw.gateway_id, "samples": first}).json() == {
        "accepted": 3,
        "duplicates": 0,
        "rejected": [],
    }
    # the optimistic COPY fails on the stored ones; the request goes the conflict-aware way
    mixed = [*first, sample(5, minutes_ago=1), sample(5, minutes_ago=1)]
    assert post(client, gw, {"gateway_id": gw.gateway_id, "samples": mixed}).json() == {
        "accepted": 1,
        "duplicates": 4,
        "rejected": [],
    }
    assert Sample.objects.filter(gateway=gw).count() == 4
    live = GatewayLiveState.objects.get(gateway=gw)
    assert live.last_seq == 5 and live.transport == "https"


# --- the gateway API's own middleware and its authentication -----------------------------


def test_the_gateway_api_answers_past_the_browsers_middleware(client, gw):
    """No session, CSRF, messages or CSP on the device API; the headers every answer
    carries still come (docs/architecture.md, "Response headers")."""
    response = post(client, gw, {"gateway_id": gw.gateway_id, "samples": [sample(1)]})
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Length"] == str(len(response.content))
    assert "Content-Security-Policy" not in response and "Vary" not in response
    assert not response.cookies
    assert response.wsgi_request.resolver_match.view_name == "telemetry:telemetry"
    assert not hasattr(response.wsgi_request, "session")  # the browser's stack never ran
    # a path under the prefix that names nothing: the JSON 404, the same way
    response = client.post("/api/v1/nothing", "{}", content_type="application/json")
    assert response.status_code == 404 and "no endpoint" in response.json()["error"]
    assert "Content-Security-Policy" not in response


def test_the_gateway_api_still_checks_the_host(gw):
    from django.test import Client

    response = Client(HTTP_HOST="evil.example").post(
        URL, "{}", content_type="application/json", HTTP_AUTHORIZATION=f"Gateway {gw.gateway_id}:x"
    )
    assert response.status_code == 400


def test_a_proven_secret_stops_working_when_rotated(client, gw):
    batch = {"gateway_id": gw.gateway_id, "samples": [sample(1)]}
    assert post(client, gw, batch).status_code == 200  # proven, and remembered
    old = gw.secret
    new = rotate_device_secret(gateway=gw)
    assert post(client, gw, batch, secret=old).status_code == 401
    assert post(client, gw, batch, secret=new).json()["duplicates"] == 1
    assert post(client, gw, batch, secret=new[::-1]).status_code == 401
