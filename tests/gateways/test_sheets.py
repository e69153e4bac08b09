"""The printed sheets: provisioning records a batch and keeps each sheet password only
sealed until the gateway is claimed; ``essmon print-sheets`` renders a batch (or given
gateways) as a PDF, A4 or label, with the Japanese font embedded and a QR code that opens
the registration with the gateway ID filled in.

The PDFs are checked with poppler (pdfinfo, pdffonts, pdftotext, pdftoppm) and the QR code
is decoded from the rendered page with zxing-cpp; the rendered pages are kept under
test-artifacts/sheets/ for a person to look at."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from essmon.gateways.models import Gateway, ProvisioningBatch
from essmon.gateways.services import sheets
from essmon.gateways.services.claims import confirm_held_gateways, take_gateway
from essmon.gateways.services.credentials import unseal_sheet_password
from essmon.gateways.sheet_layout import SheetData
from tests import factories

pytestmark = pytest.mark.django_db

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "sheets"
needs_pdf_tools = pytest.mark.skipif(
    not sheets.FONT_PATH.is_file() or not shutil.which("pdffonts") or not shutil.which("pdftoppm"),
    reason="needs fonts-ipaexfont-gothic and poppler-utils (make sheet-fonts)",
)


def provision(tmp_path: Path, count: int = 3) -> tuple[ProvisioningBatch, list[dict[str, str]]]:
    out = tmp_path / "list.csv"
    call_command(
        "provision-gateways",
        "--count",
        str(count),
        "--part-number",
        "2874598-7 A",
        "--out",
        str(out),
        stdout=io.StringIO(),
    )
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return ProvisioningBatch.objects.get(), sorted(rows, key=lambda r: r["gateway_id"])


def print_sheets(*args: str) -> str:
    out = io.StringIO()
    call_command("print-sheets", *args, stdout=out)
    return out.getvalue()


def poppler(tool: str, *args: str) -> str:
    return subprocess.run([tool, *args], check=True, capture_output=True, text=True).stdout


def pdf_info(pdf: Path) -> dict[str, str]:
    lines = poppler("pdfinfo", str(pdf)).splitlines()
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in lines)}


def decode_qr(png: Path) -> list[str]:
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    return [found.text for found in zxingcpp.read_barcodes(Image.open(png))]


# --- batches and the sealed passwords ---------------------------------------------------


def test_provisioning_records_a_batch_and_seals_each_password(tmp_path):
    batch, rows = provision(tmp_path, count=2)
    assert batch.source == ProvisioningBatch.Source.PROVISIONED
    assert batch.origin.startswith("provision-gateways (OS user ")
    assert (batch.model, batch.part_number, batch.count) == ("KP-GWBT-A", "2874598-7 A", 2)
    gateways = list(batch.gateways.order_by("gateway_id"))
    assert [g.gateway_id for g in gateways] == [r["gateway_id"] for r in rows]
    for gateway, row in zip(gateways, rows, strict=True):
        # sealed, not plain: the row does not contain it, the key opens it
        assert row["password"] not in gateway.sheet_password_sealed
        assert unseal_sheet_password(gateway.sheet_password_sealed) == row["password"]


def test_import_records_a_batch_too(tmp_path):
    path = tmp_path / "factory.csv"
    path.write_text(
        "gateway_id,password,model,part_number\n"
        "26AB00000001,abcdefgh2345,KP-GWBT-A,P-1\n"
        "26AB00000002,bcdefghj3456,KP-GWBT-B,P-1\n",
        encoding="utf-8",
    )
    call_command("import-gateways", str(path), stdout=io.StringIO())
    batch = ProvisioningBatch.objects.get()
    assert batch.source == ProvisioningBatch.Source.IMPORTED
    assert (batch.model, batch.part_number, batch.count) == ("(複数)", "P-1", 2)
    assert batch.origin == "import-gateways factory.csv"
    gateway = Gateway.objects.get(gateway_id="26AB00000002")
    assert unseal_sheet_password(gateway.sheet_password_sealed) == "bcdefghj3456"


def test_claiming_forgets_the_sheet_password(tmp_path):
    batch, _ = provision(tmp_path, count=2)
    direct, held = batch.gateways.order_by("gateway_id")
    owner = factories.customer()
    take_gateway(gateway=direct, owner=owner, site=factories.site(owner=owner), hold=False)
    take_gateway(gateway=held, owner=owner, site=factories.site(owner=owner), hold=True)
    held.refresh_from_db()
    assert held.sheet_password_sealed  # still provisional: its sheet may be needed again
    confirm_held_gateways(owner=owner)
    assert not Gateway.objects.exclude(sheet_password_sealed="").exists()
    with pytest.raises(CommandError, match="登録済み"):
        print_sheets("--batch", str(batch.pk), "--out", str(tmp_path / "s.pdf"))
    assert not (tmp_path / "s.pdf").exists()


# --- print-sheets -------------------------------------------------------------------------


@needs_pdf_tools
def test_print_sheets_a4_embeds_the_font_and_the_qr_code_opens_the_registration(tmp_path, settings):
    settings.BASE_URL = "https://entry.kp-net.com"
    batch, rows = provision(tmp_path, count=3)
    pdf = tmp_path / "sheets.pdf"
    assert "wrote" in print_sheets("--batch", str(batch.pk), "--out", str(pdf))
    assert pdf.stat().st_mode & 0o077 == 0  # it carries passwords: owner-only

    info = pdf_info(pdf)
    assert info["Pages"] == "3" and info["Page size"].endswith("(A4)")
    fonts = poppler("pdffonts", str(pdf)).splitlines()[2:]
    assert fonts, "no font in the PDF"
    for line in fonts:  # name type encoding emb sub uni ...
        assert "IPAexGothic" in line and line.split()[-5] == "yes", line

    text = poppler("pdftotext", "-f", "1", "-l", "1", "-layout", str(pdf), "-")
    first = rows[0]
    for expected in (
        "遠隔モニタリングサービス ご登録にあたって",
        first["gateway_id"],
        first["password"],
        "品番 2874598-7 A",
        "https://entry.kp-net.com/",
        "販売店様へのお願い",
    ):
        assert expected in text, expected

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    poppler("pdftoppm", "-png", "-r", "150", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "a4"))
    png = ARTIFACTS / "sheet-a4.png"
    shutil.copy(tmp_path / "a4-1.png", png)
    assert decode_qr(png) == [f"https://entry.kp-net.com/?gw={first['gateway_id']}"]
    assert all(g.sheet_printed_at for g in batch.gateways.all())


@needs_pdf_tools
def test_print_sheets_labels_of_given_gateways(tmp_path, settings):
    settings.BASE_URL = "https://entry.kp-net.com"
    _, rows = provision(tmp_path, count=2)
    pdf = tmp_path / "labels.pdf"
    ids = [rows[1]["gateway_id"], rows[0]["gateway_id"].lower()]  # as typed: normalized
    print_sheets("--gateway", *ids, "--size", "label", "--out", str(pdf))
    info = pdf_info(pdf)
    assert info["Pages"] == "2"
    width, _, height, _ = info["Page size"].split()
    assert (round(float(width) / 72 * 25.4), round(float(height) / 72 * 25.4)) == (62, 29)
    text = poppler("pdftotext", "-f", "1", "-l", "1", str(pdf), "-")
    assert rows[1]["gateway_id"] in text and rows[1]["password"] in text  # in the given order
    poppler("pdftoppm", "-png", "-r", "600", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "l"))
    png = ARTIFACTS / "sheet-label.png"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / "l-1.png", png)
    assert decode_qr(png) == [f"https://entry.kp-net.com/?gw={rows[1]['gateway_id']}"]


def test_print_sheets_refusals(tmp_path, settings):
    batch, _ = provision(tmp_path, count=1)
    out = tmp_path / "s.pdf"
    with pytest.raises(CommandError, match="ゲートウェイIDが見つかりません: 26ZZ00000000"):
        print_sheets("--gateway", "26ZZ00000000", "--out", str(out))
    with pytest.raises(CommandError, match="no provisioning batch 999"):
        print_sheets("--batch", "999", "--out", str(out))
    out.write_bytes(b"")
    with pytest.raises(CommandError, match="refusing to overwrite"):
        print_sheets("--batch", str(batch.pk), "--out", str(out))
    settings.SECRET_KEY = "another secret key, as after a rotation " * 2
    with pytest.raises(CommandError, match="復号できません"):
        print_sheets("--batch", str(batch.pk), "--out", str(tmp_path / "t.pdf"))
    assert not Gateway.objects.filter(sheet_printed_at__isnull=False).exists()


def test_the_qr_code_carries_the_gateway_id_and_never_the_password():
    sheet = SheetData("01AB12345678", "abcedfghijk12", "KP-GWBT-A", "", "https://x.example/")
    assert sheet.qr_url == "https://x.example/?gw=01AB12345678"
    assert "abcedfghijk12" not in sheet.qr_url


def test_a_missing_font_is_said_in_japanese(monkeypatch):
    monkeypatch.setattr(sheets, "FONT_NAME", "NoSuchFontForTheTest")
    monkeypatch.setattr(sheets, "FONT_PATH", Path("/nonexistent/font.ttf"))
    with pytest.raises(sheets.SheetError, match="fonts-ipaexfont-gothic"):
        sheets.render_pdf([sheets.sample_sheet()], size="a4")
