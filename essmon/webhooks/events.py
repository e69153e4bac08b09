"""The event types and their payloads (docs/webhooks.md lists them for receivers).

A payload is the minimum a receiver needs to act: the type, the gateway ID, times, and the
event's own facts (an alert's kind, code and title; a setting's name and values). Nothing
about the owner as a person: a dealer's endpoint gets the same payload as the owner's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

ALERT_OPENED = "alert.opened"
ALERT_CLOSED = "alert.closed"
GATEWAY_OFFLINE = "gateway.offline"
GATEWAY_ONLINE = "gateway.online"
LINK_ADDED = "link.added"
LINK_ENDED = "link.ended"
WARRANTY_AT_RISK = "warranty.at_risk"
SETTING_APPLIED = "setting.applied"
SETTING_REJECTED = "setting.rejected"
TEST = "test"

# each type people choose on the page, in the page's words
EVENT_TYPES: dict[str, str] = {
    ALERT_OPENED: "異常の発生",
    ALERT_CLOSED: "異常の復旧",
    GATEWAY_OFFLINE: "ゲートウェイのオフライン",
    GATEWAY_ONLINE: "ゲートウェイのオンライン復帰",
    LINK_ADDED: "保守紐付けの登録",
    LINK_ENDED: "保守紐付けの終了",
    WARRANTY_AT_RISK: "延長保証の警告(長期オフライン)",
    SETTING_APPLIED: "設定変更の反映",
    SETTING_REJECTED: "設定変更の拒否",
}
LABELS = {**EVENT_TYPES, TEST: "テスト送信"}


def when(moment: datetime | None) -> str | None:
    """A time as receivers read it: ISO 8601 in UTC (None stays null)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def envelope(*, type: str, timestamp: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """The Standard Webhooks payload shape: type, timestamp, data."""
    return {"type": type, "timestamp": when(timestamp), "data": data}
