"""What customers and dealers are told in the same words on every screen and mail: the
data a linked dealer is given, what of its people's activity is recorded, and for how long."""

from __future__ import annotations

from django.conf import settings

# The customer's data a linked dealer may see (the access policy shows exactly these).
SHARED_ITEMS: tuple[tuple[str, str], ...] = (
    ("name", "氏名"),
    ("furigana", "フリガナ"),
    ("company_name", "法人名"),
    ("department", "部署名"),
    ("address", "住所"),
    ("phone", "電話番号"),
    ("email", "メールアドレス"),
    ("site", "案件名・設置先住所"),
    ("system", "システムの状態と設定"),
)
# What the customer agrees to: the screen shows the lead, the items as a list (once), and
# the tail; the provision record keeps the same words in one line (CONSENT_TEXT).
CONSENT_LEAD = (
    "保守を任せる販売店様に、このゲートウェイについて次の情報を提供し、販売店様が"
    "システムの状態確認と設定変更を行うことに同意します: "
)
CONSENT_TAIL = "提供は紐付けを解除するまで続き、解除はいつでもできます。"
CONSENT_TEXT = CONSENT_LEAD + "、".join(label for _, label in SHARED_ITEMS) + "。" + CONSENT_TAIL


# What 販売店様による閲覧・変更の記録 holds, in the words of the consent screen and the
# dealer's link mail (「販売店様が…」「貴社が…」): every kind of DealerAccess.Action. Every
# page of the monitoring site under /monitoring/<gateway_id>/ is recorded (a test holds
# each URL to it), so 「このシステムのモニタリングサイトの画面」 is all of them; the public API's
# reads of one gateway are recorded too (essmon/api, 内容 「公開API」).
def recorded_activities(system: str = "このシステム") -> str:
    return (
        f"{system}のモニタリングサイトの画面やお客様情報を表示したこと、"
        "公開APIで状況や保証を読み取ったこと、履歴のCSVや"
        "保証書(PDF)を取得したこと、設定や系統連系日・受取日を変更したこと、"
        "異常を確認済みにしたこと、ゲートウェイを交換したこと"
    )


RECORDED_ACTIVITIES = recorded_activities()


def record_retention_text() -> str:
    """How long the records are kept, as the screens and mails say it (「3年間」)."""
    days = settings.DEALER_RECORD_RETENTION_DAYS
    return f"{days // 365}年間" if days % 365 == 0 else f"{days}日間"
