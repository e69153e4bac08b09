"""製造登録コンソール (issue 14): a batch made with the command's service and rules, its
sheets as a PDF, a factory list refused line by line in Japanese or loaded whole; every run
recorded; 管理担当 only."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from essmon.gateways.models import Gateway, ProvisioningBatch
from essmon.gateways.services import sheets
from essmon.gateways.services.credentials import generate_device_secret
from essmon.support.models import SupportAction
from tests import factories

pytestmark = pytest.mark.django_db

needs_font = pytest.mark.skipif(
    not sheets.FONT_PATH.is_file(), reason="needs fonts-ipaexfont-gothic (make sheet-fonts)"
)


@pytest.fixture
def admin(client):
    operator = factories.admin_operator()
    client.force_login(operator)
    client.operator = operator
    return client


def test_creating_a_batch_answers_its_sheet_list_and_records_it(admin):
    response = admin.post(
        reverse("support:provision"),
        {"count": "3", "model": "KP-GWBT-B", "part_number": "2874598-7 A", "lot": "07"},
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    batch = ProvisioningBatch.objects.get()
    assert response["Content-Disposition"] == f'attachment; filename="batch-{batch.pk}.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 3
    assert {row["gateway_id"][:2] for row in rows} == {"07"}
    gateways = Gateway.objects.filter(batch=batch)
    assert sorted(g.gateway_id for g in gateways) == sorted(r["gateway_id"] for r in rows)
    assert (batch.count, batch.model, batch.created_by) == (3, "KP-GWBT-B", admin.operator)
    assert "運用コンソール" in batch.origin
    action = SupportAction.objects.get()
    assert action.action == SupportAction.Action.PROVISION
    assert action.target_label == f"バッチ #{batch.pk}"
    console = admin.get(reverse("support:console")).content.decode()
    assert f"バッチ #{batch.pk}(3台)を作成し" in console
    assert "KP-GWBT-B" in console


@pytest.mark.parametrize(
    "form, message",
    [
        ({"count": "0", "model": "KP-GWBT-A"}, "1台以上"),
        ({"count": "501", "model": "KP-GWBT-A"}, "500台以内"),
        ({"count": "abc", "model": "KP-GWBT-A"}, "半角数字"),
        ({"count": "1", "model": "kp gwbt"}, "英大文字・数字・ハイフン"),
        ({"count": "1", "model": "KP-GWBT-A", "lot": "１２"}, "半角数字2桁"),
        ({"count": "1", "model": "KP-GWBT-A", "part_number": "A\x07B"}, "制御文字"),
    ],
)
def test_the_commands_rules_refuse_a_batch_in_japanese(admin, form, message):
    response = admin.post(reverse("support:provision"), form)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Gateway.objects.exists()


@needs_font
def test_a_batchs_sheets_download_as_a_pdf_and_are_recorded(admin):
    admin.post(reverse("support:provision"), {"count": "2", "model": "KP-GWBT-A"})
    batch = ProvisioningBatch.objects.get()
    for size in ("a4", "label"):
        response = admin.post(reverse("support:sheets"), {"batch": batch.pk, "size": size})
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF-")
        assert f"sheets-batch-{batch.pk}-{size}.pdf" in response["Content-Disposition"]
    assert Gateway.objects.filter(batch=batch, sheet_printed_at__isnull=False).count() == 2
    assert SupportAction.objects.filter(action=SupportAction.Action.PRINT_SHEETS).count() == 2


def test_a_claimed_gateways_sheet_is_not_printed(admin):
    admin.post(reverse("support:provision"), {"count": "1", "model": "KP-GWBT-A"})
    batch = ProvisioningBatch.objects.get()
    Gateway.objects.filter(batch=batch).update(state="claimed", sheet_password_sealed="")
    response = admin.post(reverse("support:sheets"), {"batch": batch.pk, "size": "a4"})
    assert response.status_code == 302
    page = admin.get(response.url).content.decode()
    assert "印刷できないゲートウェイがあります" in page
    assert SupportAction.objects.filter(outcome="refused").count() == 1
    missing = admin.post(reverse("support:sheets"), {"batch": 99999, "size": "a4"})
    assert "そのバッチはありません" in admin.get(missing.url).content.decode()


def upload(text: str, name: str = "factory.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv")


def test_a_factory_list_is_imported_whole(admin):
    secret = generate_device_secret()
    text = (
        "gateway_id,password,model,part_number,device_secret\n"
        f"03AB00000001,abcdefgh1234,KP-GWBT-A,P-1,{secret}\n"
        "03AB00000002,abcdefgh5678,KP-GWBT-A,P-1,\n"
    )
    response = admin.post(reverse("support:import"), {"file": upload(text)})
    assert response.status_code == 302
    batch = ProvisioningBatch.objects.get()
    assert batch.count == 2 and batch.source == ProvisioningBatch.Source.IMPORTED
    assert "factory.csv" in batch.origin
    assert Gateway.objects.filter(batch=batch).count() == 2
    assert SupportAction.objects.get().action == SupportAction.Action.IMPORT
    assert "工場リストを取り込みました" in admin.get(response.url).content.decode()


def test_a_bad_factory_list_is_refused_line_by_line_in_japanese(admin):
    factories.gateway(gateway_id="03AB00000009")
    text = (
        "gateway_id,password,model\n"
        "03AB00000001,abcdefgh1234,KP-GWBT-A\n"
        "3AB1,short,kp\n"
        "03AB00000001,abcdefgh1234,KP-GWBT-A\n"
        "03AB00000009,abcdefgh1234,KP-GWBT-A\n"
    )
    response = admin.post(reverse("support:import"), {"file": upload(text)})
    assert response.status_code == 400
    body = response.content.decode()
    for message in (
        "3行目: gateway_id &#x27;3AB1&#x27; が、数字2桁・英大文字2文字・数字8桁の形",
        "3行目: password は英数字8〜32文字にしてください",
        "3行目: model &#x27;kp&#x27; が形式名",
        "4行目: gateway_id 03AB00000001 が2行目と重複しています",
        "5行目: gateway_id 03AB00000009 はすでに登録されています",
        "1台も登録していません",
    ):
        assert message in body, message
    assert Gateway.objects.count() == 1 and not ProvisioningBatch.objects.exists()
    action = SupportAction.objects.get()
    assert action.outcome == SupportAction.Outcome.REFUSED and "5件の誤り" in action.detail


@pytest.mark.parametrize(
    "content, message",
    [
        (b"name,other\nx,y\n", "1行目: 見出しは"),
        ("gateway_id,password,model\n".encode("shift_jis") + "０".encode("shift_jis"), "UTF-8"),
        (b"", "ファイルが空です"),
    ],
)
def test_unreadable_lists_get_a_japanese_message(admin, content, message):
    file = SimpleUploadedFile("list.csv", content, content_type="text/csv")
    response = admin.post(reverse("support:import"), {"file": file})
    assert response.status_code == 400
    assert message in response.content.decode()


def test_the_console_is_for_administration_only(client):
    for user in (factories.support_operator(), factories.customer(), factories.dealer().user):
        client.force_login(user)
        assert client.get(reverse("support:console")).status_code == 404
        response = client.post(reverse("support:provision"), {"count": "1", "model": "KP-GWBT-A"})
        assert response.status_code == 404
        assert client.post(reverse("support:sheets"), {"batch": 1}).status_code == 404
    assert not Gateway.objects.exists()
