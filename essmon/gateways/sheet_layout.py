"""The sheet 「お客様用 遠隔モニタリングサービス ご登録にあたって」 as layout data: what is
printed where, in millimetres from the page's top left corner.

One layout, two renderings: the PDF that ``print-sheets`` prints (gateways.services.sheets)
and the SVG of 「サンプル画像はこちら」 (portal.entry), so that the sample shows the real
sheet. Lines are broken here, with widths estimated from the character classes (a
Japanese character one em, a Latin one about half), so both renderings break them alike
and the layout does not depend on a font file being installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import segno
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

PT = 25.4 / 72  # millimetres in a typographic point
INK = "#000000"
ACCENT = "#0a6e5c"
MUTED = "#444444"
HIGHLIGHT = "#d93025"

# characters that must not start a line (kinsoku): they stay at the end of the previous one
NO_LINE_START = "、。，．）」』】〕！？ー・:：,.)"


@dataclass(frozen=True)
class SheetData:
    """What one sheet prints."""

    gateway_id: str
    password: str
    model: str
    part_number: str
    registration_url: str  # the 登録サイト's top page, printed and encoded in the QR code

    @property
    def qr_url(self) -> str:
        """The registration with the gateway ID filled in (portal.entry.landing's ``gw``);
        never the password, which is typed from the paper (docs/architecture.md)."""
        return f"{self.registration_url}?{urlencode({'gw': self.gateway_id})}"


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # baseline
    size: float  # points
    text: str
    color: str = INK
    anchor: str = "start"  # or "end": x is the right edge
    role: str = ""  # "gateway_id", "password": what the sample page points at


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float
    fill: str | None = None
    stroke: str | None = None
    line: float = 0.3  # stroke width, mm
    role: str = ""  # "credentials": the frame around ID and password


@dataclass(frozen=True)
class Qr:
    x: float
    y: float
    size: float  # the square's side, quiet zone included
    data: str
    border: int  # quiet zone, in modules


Item = Text | Box | Qr


@dataclass(frozen=True)
class Page:
    width: float
    height: float
    items: tuple[Item, ...]


def text_width(text: str, size: float) -> float:
    """Estimated width in mm (Latin letters about half an em, the rest one em)."""
    return sum(0.56 if ord(c) < 128 else 1.0 for c in text) * size * PT


def wrap(text: str, size: float, width: float) -> list[str]:
    lines: list[str] = []
    line = ""
    for char in text:
        if line and text_width(line + char, size) > width and char not in NO_LINE_START:
            lines.append(line)
            line = ""
        line += char
    if line:
        lines.append(line)
    return lines


class _Flow:
    """Paragraphs placed one below the other."""

    def __init__(self, y: float) -> None:
        self.y = y
        self.items: list[Item] = []

    def paragraph(
        self,
        text: str,
        *,
        x: float,
        width: float,
        size: float,
        color: str = INK,
        leading: float = 1.5,
        indent: float = 0.0,
        prefix: str = "",
    ) -> None:
        """``prefix`` (a step's number) hangs in the indent before the first line."""
        step = size * PT * leading
        for number, line in enumerate(wrap(text, size, width - indent)):
            self.y += step
            if prefix and number == 0:
                self.items.append(Text(x, self.y, size, prefix, color))
            self.items.append(Text(x + indent, self.y, size, line, color))

    def space(self, mm: float) -> None:
        self.y += mm


STEPS = (
    "スマートフォンで上のQRコードを読み取るか、パソコンで上記URLを入力して登録サイトを開き、"
    "「お客様情報の登録」を押します。すでにアカウントをお持ちの方は、ログインして"
    "「ゲートウェイの登録」に進みます。",
    "利用規約をお読みいただき、「同意する」を押します。",
    "お客様情報、本書のゲートウェイIDとゲートウェイパスワード、設置先を入力して「次に進む」、"
    "内容を確認して「登録」を押します。",
    "仮登録のメールが届きます。メールのURLからパスワードを登録すると本登録が完了し、"
    "モニタリングサイトをご利用いただけます。",
)
INTRO = (
    "本サービスのご利用を開始いただくには、裏面の規約をお読みいただいた上で、お客様の情報と、"
    "本書に書かれたゲートウェイIDとパスワードを下記URLの登録サイトよりご登録ください。"
)
QR_NOTE = (
    "スマートフォンでQRコードを読み取ると、ゲートウェイIDが入力された登録画面が開きます。"
    "パスワードは本書を見て入力してください(大文字・小文字を区別します)。"
)
WARRANTY = (
    "〈注意事項〉アカウント登録をしていただくと、蓄電池とパワーコンディショナの保証期間が"
    "10年間から15年間になります。系統連系日、もしくは商品を受け取った日から3ヶ月以内に"
    "ご登録いただき、継続的にインターネットに接続していただいている場合に限ります。"
)
KEEP = "本書は、なくさないように大切に保管してください。"
DEALER_TITLE = "販売店様へのお願い"
DEALER = (
    "本書はお客様が遠隔モニタリングサービスの使用を開始する時に必要となるものです。"
    "必ずお客様に渡してください。"
)


def a4_page(sheet: SheetData) -> Page:
    """One A4 sheet (portrait), after the registration guide's: title, ID and password in a frame, the
    URL with its QR code, the steps, the notes and the request to the dealer."""
    left, width = 18.0, 174.0
    items: list[Item] = []
    if sheet.part_number:
        items.append(Text(left, 16, 9, f"品番 {sheet.part_number}", MUTED))
    items.append(Text(left + width, 16, 9, f"ゲートウェイ 形式 {sheet.model}", MUTED, "end"))
    items.append(Text(left, 32, 14, "お客様用"))
    items.append(Text(left, 44, 21, "遠隔モニタリングサービス ご登録にあたって"))
    items.append(Box(left, 48, width, 0.8, fill=ACCENT))
    items.append(Box(left, 56, width, 34, fill="#ffffff", stroke=INK, line=0.6, role="credentials"))
    items.append(Text(left + 7, 69, 11, "ゲートウェイID"))
    items.append(Text(left + 62, 70, 20, sheet.gateway_id, role="gateway_id"))
    items.append(Text(left + 7, 83, 11, "ゲートウェイパスワード"))
    items.append(Text(left + 62, 84, 20, sheet.password, role="password"))
    flow = _Flow(94)
    flow.paragraph(INTRO, x=left, width=width, size=11)
    qr_top, qr_size = flow.y + 5, 40.0
    items += flow.items
    items.append(Qr(left, qr_top, qr_size, sheet.qr_url, border=4))
    beside = _Flow(qr_top + 2)
    text_x, text_width_ = left + qr_size + 6, width - qr_size - 12
    beside.paragraph("登録サイト", x=text_x, width=text_width_, size=10, color=MUTED)
    beside.paragraph(sheet.registration_url, x=text_x, width=text_width_, size=15)
    beside.space(3)
    beside.paragraph(QR_NOTE, x=text_x, width=text_width_, size=9.5, color=MUTED)
    items += beside.items
    flow = _Flow(max(qr_top + qr_size, beside.y) + 6)
    flow.paragraph("ご登録の手順", x=left, width=width, size=12)
    flow.space(1)
    for number, step in enumerate(STEPS, start=1):
        flow.paragraph(step, x=left, width=width, size=10, indent=6, prefix=f"{number}.")
    flow.space(4)
    flow.paragraph(WARRANTY, x=left, width=width, size=9, color=MUTED)
    flow.space(3)
    flow.paragraph(KEEP, x=left, width=width, size=11)
    items += flow.items
    dealer_top = 250.0
    items.append(Box(left, dealer_top, width, 27, fill="#f2f4f6", stroke="#999999"))
    dealer = _Flow(dealer_top + 2)
    dealer.paragraph(DEALER_TITLE, x=left + 6, width=width - 12, size=11)
    dealer.paragraph(DEALER, x=left + 6, width=width - 12, size=10)
    items += dealer.items
    return Page(210.0, 297.0, tuple(items))


def label_page(sheet: SheetData) -> Page:
    """A 62 × 29 mm label (continuous label printers' common size): QR code, ID, password."""
    items: list[Item] = [
        Qr(1.5, 1.5, 26, sheet.qr_url, border=2),
        Text(29, 5.5, 5.5, "ゲートウェイID", MUTED),
        Text(29, 10.5, 9.5, sheet.gateway_id, role="gateway_id"),
        Text(29, 15.5, 5.5, "ゲートウェイパスワード", MUTED),
        Text(29, 20.5, 9.5, sheet.password, role="password"),
    ]
    flow = _Flow(21.5)
    flow.paragraph(sheet.registration_url, x=29, width=31.5, size=5, leading=1.3)
    items += flow.items[:2]  # a long URL is cut to two lines: the QR code carries it whole
    return Page(62.0, 29.0, tuple(items))


LAYOUTS = {"a4": a4_page, "label": label_page}


def qr_runs(data: str, border: int) -> tuple[int, list[tuple[int, int, int]]]:
    """The QR code's dark modules as horizontal runs (row, column, length), and the side
    in modules, quiet zone included."""
    qr = segno.make(data, error="m")
    rows = [list(row) for row in qr.matrix_iter(scale=1, border=border)]
    runs: list[tuple[int, int, int]] = []
    for y, row in enumerate(rows):
        x = 0
        while x < len(row):
            if row[x]:
                start = x
                while x < len(row) and row[x]:
                    x += 1
                runs.append((y, start, x - start))
            else:
                x += 1
    return len(rows), runs


def to_svg(page: Page, *, highlight: str = "", title: str = "") -> SafeString:
    """The page as inline SVG (presentation attributes only: no style, for the CSP). The
    box whose role is ``highlight`` is drawn in red with a pointer to it."""
    parts: list[SafeString] = []
    for item in page.items:
        if isinstance(item, Box):
            marked = bool(highlight) and item.role == highlight
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}" stroke="{}" '
                    'stroke-width="{}"{}/>',
                    item.x,
                    item.y,
                    item.w,
                    item.h,
                    item.fill or "none",
                    HIGHLIGHT if marked else item.stroke or "none",
                    1.2 if marked else item.line,
                    format_html(' data-role="{}"', item.role) if item.role else "",
                )
            )
            if marked:
                parts.append(
                    format_html(
                        '<text x="{}" y="{}" font-size="4" fill="{}" text-anchor="end">'
                        "ここに記載されています</text>",
                        item.x + item.w - 2,
                        item.y - 1.5,
                        HIGHLIGHT,
                    )
                )
        elif isinstance(item, Text):
            parts.append(
                format_html(
                    '<text x="{}" y="{}" font-size="{}" fill="{}"{}{}>{}</text>',
                    item.x,
                    item.y,
                    round(item.size * PT, 3),
                    item.color,
                    format_html(' text-anchor="{}"', item.anchor) if item.anchor != "start" else "",
                    format_html(' data-role="{}"', item.role) if item.role else "",
                    item.text,
                )
            )
        else:
            side, runs = qr_runs(item.data, item.border)
            module = item.size / side
            path = "".join(f"M{x},{y}h{n}v1h-{n}z" for y, x, n in runs)
            parts.append(
                format_html(
                    '<g transform="translate({} {}) scale({})" data-qr="{}">'
                    '<rect width="{}" height="{}" fill="#ffffff"/><path d="{}" fill="#000000"/></g>',
                    item.x,
                    item.y,
                    round(module, 5),
                    item.data,
                    side,
                    side,
                    path,
                )
            )
    return format_html(
        '<svg viewBox="0 0 {} {}" xmlns="http://www.w3.org/2000/svg" role="img" '
        'aria-label="{}" font-family="IPAexGothic, \'Noto Sans CJK JP\', sans-serif">'
        '<rect width="{}" height="{}" fill="#ffffff" stroke="#888888" stroke-width="0.4"/>{}</svg>',
        page.width,
        page.height,
        title,
        page.width,
        page.height,
        format_html_join("", "{}", ((p,) for p in parts)),
    )
