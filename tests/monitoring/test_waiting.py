"""データ受信待ち: a registered gateway from which no measurement has arrived yet shows,
on the live view and the history, what to check (LAN cable, router, the gateway's lamp)
instead of empty charts and an empty power-flow diagram; the first sample ends it."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from essmon.telemetry.models import GatewayLiveState
from tests import factories
from tests.monitoring.test_views import feed

pytestmark = pytest.mark.django_db

CHECKS = ("データ受信待ち", "LANケーブル", "ルーター", "ゲートウェイのランプ")


def pages(client, gateway) -> dict[str, str]:
    client.force_login(gateway.owner)
    return {
        name: client.get(
            reverse(f"monitoring:{name}", kwargs={"gateway_id": gateway.gateway_id})
        ).content.decode()
        for name in ("live", "live_fragment", "history")
    }


def test_a_gateway_never_heard_from_is_waiting_for_data(client):
    gateway = factories.connected_gateway()
    for name, page in pages(client, gateway).items():
        for words in CHECKS:
            assert words in page, (name, words)
        assert 'class="live-grid"' not in page and 'id="energy-charts"' not in page, name
    assert "自動で切り替わります" in pages(client, gateway)["live"]


def test_a_status_without_samples_is_still_waiting_and_says_it_was_heard(client):
    gateway = factories.connected_gateway()
    GatewayLiveState.objects.create(gateway=gateway, last_seen_at=timezone.now())
    live = pages(client, gateway)["live"]
    assert "データ受信待ち" in live and "ゲートウェイとの通信は確認できています" in live


def test_the_first_sample_ends_the_wait(client):
    gateway = factories.connected_gateway()
    feed(gateway, minutes_ago=0)
    for name, page in pages(client, gateway).items():
        assert "データ受信待ち" not in page, name
    assert 'class="live-grid"' in pages(client, gateway)["live"]
