"""The printed sheets of a provisioning batch (or of given gateways) as a print-ready PDF:
A4, one sheet a page, or 62 × 29 mm labels, with the Japanese font embedded (a TrueType
font: reportlab embeds its subset, where its CID fonts would be named only, and print
differently from printer to printer).

The sheet's password is read from its sealed copy (credentials.unseal_sheet_password),
which exists only until the gateway is claimed: a claimed gateway's sheet is never printed
again. ``print-sheets`` and the operators' console both call ``render_sheets``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from essmon.core.sealing import InvalidToken
from essmon.gateways.models import Gateway, ProvisioningBatch
from essmon.gateways.services.credentials import unseal_sheet_password
from essmon.gateways.sheet_layout import LAYOUTS, Box, Page, Qr, SheetData, Text, qr_runs

SIZES = tuple(LAYOUTS)  # "a4", "label"
# Debian's fonts-ipaexfont-gothic (the Makefile installs it): TrueType outlines, which
# reportlab can embed (the Noto CJK fonts are CFF-based OpenType, which it cannot).
FONT_PATH = Path("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf")
FONT_NAME = "IPAexGothic"
MAX_SHEETS = 5000  # one PDF: a batch bigger than this is printed in parts, by gateway IDs


class SheetError(Exception):
    """Sheets that cannot be printed, with the reason (in Japanese, for the console too)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def registration_url() -> str:
    """The 登録サイト's address as printed on the sheet."""
    return settings.BASE_URL + reverse("accounts:landing")


def sample_sheet() -> SheetData:
    """The sample values of 「サンプル画像はこちら」 (the registration guide's own)."""
    return SheetData(
        "01AB12345678", "abcedfghijk12", "KP-GWBT-A", "2874598-7 A", registration_url()
    )


def sheets_for(
    *, batch: ProvisioningBatch | None = None, gateway_ids: Sequence[str] = ()
) -> list[SheetData]:
    """The sheets of ``batch``'s gateways, or of ``gateway_ids`` (in that order). Refuses
    the whole set when any one cannot be printed, naming each."""
    if (batch is None) == (not gateway_ids):
        raise SheetError("バッチかゲートウェイIDのどちらか一方を指定してください。")
    if batch is not None:
        gateways = list(Gateway.objects.filter(batch=batch).order_by("gateway_id"))
    else:
        found = {g.gateway_id: g for g in Gateway.objects.filter(gateway_id__in=gateway_ids)}
        unknown = [gid for gid in gateway_ids if gid not in found]
        if unknown:
            raise SheetError(f"ゲートウェイIDが見つかりません: {', '.join(unknown)}")
        gateways = [found[gid] for gid in dict.fromkeys(gateway_ids)]
    if not gateways:
        raise SheetError("印刷するゲートウェイがありません。")
    if len(gateways) > MAX_SHEETS:
        raise SheetError(f"一度に印刷できるのは{MAX_SHEETS}枚までです。")
    problems, sheets, url = [], [], registration_url()
    for gateway in gateways:
        if gateway.state == Gateway.State.CLAIMED or not gateway.sheet_password_sealed:
            problems.append(f"{gateway.gateway_id}(登録済み、または印刷用のパスワードがありません)")
            continue
        try:
            password = unseal_sheet_password(gateway.sheet_password_sealed)
        except InvalidToken:
            problems.append(f"{gateway.gateway_id}(秘密鍵が製造登録後に変わったため復号できません)")
            continue
        sheets.append(
            SheetData(gateway.gateway_id, password, gateway.model, gateway.part_number, url)
        )
    if problems:
        raise SheetError("印刷できないゲートウェイがあります: " + "、".join(problems))
    return sheets


def _font() -> str:
    if FONT_NAME not in pdfmetrics.getRegisteredFontNames():
        if not FONT_PATH.is_file():
            raise SheetError(
                f"日本語フォント {FONT_PATH} がありません"
                "(Debian の fonts-ipaexfont-gothic をインストールしてください)。"
            )
        pdfmetrics.registerFont(TTFont(FONT_NAME, str(FONT_PATH)))
    return FONT_NAME


def _draw(canvas: Canvas, page: Page, font: str) -> None:
    height = page.height
    for item in page.items:
        if isinstance(item, Box):
            canvas.setLineWidth(item.line * mm)
            if item.fill:
                canvas.setFillColor(item.fill)
            if item.stroke:
                canvas.setStrokeColor(item.stroke)
            canvas.rect(
                item.x * mm,
                (height - item.y - item.h) * mm,
                item.w * mm,
                item.h * mm,
                stroke=int(item.stroke is not None),
                fill=int(item.fill is not None),
            )
        elif isinstance(item, Text):
            canvas.setFont(font, item.size)
            canvas.setFillColor(item.color)
            draw = canvas.drawRightString if item.anchor == "end" else canvas.drawString
            draw(item.x * mm, (height - item.y) * mm, item.text)
        elif isinstance(item, Qr):
            side, runs = qr_runs(item.data, item.border)
            module = item.size / side
            canvas.setFillColor("#000000")
            for row, col, length in runs:
                canvas.rect(
                    (item.x + col * module) * mm,
                    (height - item.y - (row + 1) * module) * mm,
                    length * module * mm,
                    module * mm,
                    stroke=0,
                    fill=1,
                )


def render_pdf(sheets: Sequence[SheetData], *, size: str) -> bytes:
    """One page per sheet, in the layout ``size`` ("a4" or "label")."""
    if size not in LAYOUTS:
        raise SheetError(f"用紙サイズは {'・'.join(SIZES)} のいずれかです。")
    layout, font = LAYOUTS[size], _font()
    out = io.BytesIO()
    canvas: Canvas | None = None
    for sheet in sheets:
        page = layout(sheet)
        if canvas is None:
            # initialFontName: else the page starts in Helvetica, a font named, not embedded
            canvas = Canvas(
                out,
                pagesize=(page.width * mm, page.height * mm),
                invariant=True,
                initialFontName=font,  # type: ignore[arg-type]  # types-reportlab: float
            )
            canvas.setTitle("お客様用 遠隔モニタリングサービス ご登録にあたって")
            canvas.setCreator("essmon print-sheets")
        _draw(canvas, page, font)
        canvas.showPage()
    if canvas is None:
        raise SheetError("印刷するゲートウェイがありません。")
    canvas.save()
    return out.getvalue()


def render_sheets(
    *,
    batch: ProvisioningBatch | None = None,
    gateway_ids: Sequence[str] = (),
    size: str = "a4",
) -> bytes:
    """The PDF of ``batch``'s sheets or ``gateway_ids``'s; each gateway's
    ``sheet_printed_at`` records the print. SheetError says why nothing was printed."""
    sheets = sheets_for(batch=batch, gateway_ids=gateway_ids)
    pdf = render_pdf(sheets, size=size)
    Gateway.objects.filter(gateway_id__in=[s.gateway_id for s in sheets]).update(
        sheet_printed_at=timezone.now()
    )
    return pdf
