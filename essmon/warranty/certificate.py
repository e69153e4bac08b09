"""The printable warranty certificate (保証書) as a PDF, A4 portrait.

reportlab's built-in Japanese CID fonts (HeiseiKakuGo-W5, HeiseiMin-W3) are used: every
PDF reader has them, so no font file ships with essmon and the PDF stays small."""

from __future__ import annotations

import re
from datetime import date, datetime
from io import BytesIO

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from essmon.core.japanese import format_postal_code
from essmon.core.jst import JST
from essmon.gateways.models import Gateway
from essmon.warranty.rules import Policy, Status, WarrantyState

GOTHIC, MINCHO = "HeiseiKakuGo-W5", "HeiseiMin-W3"
for _font in (GOTHIC, MINCHO):
    if _font not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(_font))

BRAND = colors.HexColor("#0a6e5c")
LINE = colors.HexColor("#9aa7b1")
ACCENT = colors.HexColor("#e8f4f1")

TITLE = ParagraphStyle(
    "title", fontName=GOTHIC, fontSize=22, leading=30, alignment=1, textColor=BRAND, spaceAfter=4
)
SUBTITLE = ParagraphStyle("subtitle", fontName=GOTHIC, fontSize=11, leading=16, alignment=1)
BODY = ParagraphStyle("body", fontName=MINCHO, fontSize=10.5, leading=17, wordWrap="CJK")
CELL = ParagraphStyle("cell", fontName=MINCHO, fontSize=10.5, leading=15, wordWrap="CJK")
HEAD = ParagraphStyle("head", fontName=GOTHIC, fontSize=10, leading=15, wordWrap="CJK")
BIG = ParagraphStyle("big", fontName=GOTHIC, fontSize=14, leading=20, wordWrap="CJK")
SMALL = ParagraphStyle(
    "small",
    fontName=MINCHO,
    fontSize=8.5,
    leading=13,
    wordWrap="CJK",
    textColor=colors.HexColor("#444444"),
)


def _day(day: date | None) -> str:
    return f"{day.year}年{day.month}月{day.day}日" if day else "未入力"


# The built-in CID fonts cover the Basic Multilingual Plane only: a character past it (𠮷,
# emoji) comes out as empty boxes and swallows the next one. It is printed as 〓, the
# customary stand-in for a character the typeface lacks.
OUTSIDE_FONT = re.compile("[\U00010000-\U0010ffff]")
# a field longer than this could not fit its cell (reportlab then fails the whole page)
FIELD_MAX = 300


def _esc(text: str) -> str:
    # Paragraph reads a small XML dialect: names typed by customers must stay text
    text = OUTSIDE_FONT.sub("〓", text)
    if len(text) > FIELD_MAX:
        text = text[: FIELD_MAX - 1] + "…"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_certificate(
    gateway: Gateway, state: WarrantyState, *, issued_at: datetime, policy: Policy
) -> bytes:
    """The certificate of ``state``; only for a state with an end of coverage."""
    if not state.can_certify:
        raise ValueError("no end date: the certificate cannot be issued yet")
    buffer = BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=22 * mm,
        rightMargin=22 * mm,
        topMargin=20 * mm,
        bottomMargin=18 * mm,
        # ASCII, so the PDF's metadata names the gateway in plain bytes (searchable)
        title=f"Warranty certificate {gateway.gateway_id}",
        subject=f"essmon warranty {gateway.gateway_id} {state.status.value}",
        author="essmon",
        creator="essmon",
    )
    extended = state.status in (Status.EXTENDED, Status.AT_RISK)
    kind = f"延長保証 {state.years}年" if extended else f"標準保証 {state.years}年"
    owner = gateway.owner
    site = gateway.site
    rows = [
        ("お客様", f"{_esc(owner.name)} 様" if owner else "—"),
        (
            "設置先(案件)",
            _esc(
                f"{site.name}\n〒{format_postal_code(site.postal_code)} {site.address}"
                if site
                else "—"
            ).replace("\n", "<br/>"),
        ),
        (
            "製品",
            _esc(
                f"{state.term.product}(形式 {gateway.model}"
                + (f"、品番 {gateway.part_number}" if gateway.part_number else "")
                + ")"
            ),
        ),
        ("ゲートウェイID", gateway.gateway_id),
        ("保証の対象", "蓄電池・パワーコンディショナ"),
        ("系統連系日", _day(state.grid_connection_date)),
        ("受取日", _day(state.received_date)),
        ("本登録日", _day(state.registered_on)),
        ("保証の種類", f"<font name='{GOTHIC}'>{kind}</font>"),
        (
            "保証期間",
            f"<font name='{GOTHIC}' size='13'>{_day(state.coverage_start)} から "
            f"{_day(state.coverage_end)} まで</font>",
        ),
    ]
    table = Table(
        [[Paragraph(label, HEAD), Paragraph(value, CELL)] for label, value in rows],
        colWidths=[38 * mm, None],
    )
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.6, LINE),
                ("BACKGROUND", (0, 0), (0, -1), ACCENT),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("TOPPADDING", (0, 0), (-1, -1), 6),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
                ("BACKGROUND", (1, -1), (1, -1), colors.HexColor("#f6fbf9")),
            ]
        )
    )
    issued = issued_at.astimezone(JST)
    conditions = (
        f"延長保証は、本登録が系統連系日または受取日から3か月以内に行われ、ゲートウェイを"
        f"インターネットに接続し続けることが条件です。ゲートウェイが{policy.lapse_days}日を超えて"
        f"続けてオフラインになると延長保証は失効し、保証期間は標準の{state.term.standard_years}年"
        f"({_day(state.standard_end)}まで)となります。"
    )
    story = [
        Paragraph("保 証 書", TITLE),
        Paragraph("蓄電システム(蓄電池・パワーコンディショナ)", SUBTITLE),
        Spacer(1, 8 * mm),
        Paragraph(f"発行日 {_day(issued.date())}", ParagraphStyle("r", parent=BODY, alignment=2)),
        Spacer(1, 3 * mm),
        Paragraph(
            "本書は、下記の蓄電システムについて、記載の期間、保証することを証するものです。", BODY
        ),
        Spacer(1, 4 * mm),
        table,
        Spacer(1, 6 * mm),
        Paragraph(f"現在の状態:{_esc(state.label)}", BIG),
        Spacer(1, 1 * mm),
        Paragraph(_esc(state.reason), BODY),
        Spacer(1, 6 * mm),
        Paragraph("保証の条件", HEAD),
        Paragraph(_esc(conditions), SMALL),
        Paragraph(
            "本書は発行日時点の保証の内容を記載したものです。最新の状態は遠隔モニタリングサービスの"
            "モニタリングサイト(保証のページ)でご確認ください。修理のご依頼の際は、本書と"
            "ゲートウェイIDをお知らせください。",
            SMALL,
        ),
        Spacer(1, 10 * mm),
        Paragraph(
            f"遠隔モニタリングサービス 発行 {issued:%Y-%m-%d %H:%M} / {gateway.gateway_id}",
            ParagraphStyle("issuer", parent=SMALL, alignment=2),
        ),
    ]
    doc.build(story)
    return buffer.getvalue()
