"""The operator CLI for the gateway registry: ``essmon provision-gateways`` writes the sheet
list (the only copy of the plaintext passwords), ``essmon import-gateways`` loads a factory
list all or nothing, and the ``essmon`` console script lists both."""

from __future__ import annotations

import csv
import importlib
import io
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.hashers import check_password
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from essmon.gateways.models import Gateway
from essmon.gateways.services.credentials import device_secret_matches
from tests import factories

pytestmark = pytest.mark.django_db

HEADER = ["gateway_id", "password", "model", "part_number", "device_secret"]
SECRET_SHAPE = re.compile(r"[A-Za-z0-9_-]{32}")
ID_SHAPE = re.compile(r"[0-9]{2}[A-Z]{2}[0-9]{8}")
PASSWORD_SHAPE = re.compile(r"[a-z0-9]{13}")


def provision(*args: str) -> str:
    out = io.StringIO()
    call_command("provision-gateways", *args, stdout=out)
    return out.getvalue()


def read_sheet_list(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def write_list(path: Path, *lines: str, encoding: str = "utf-8", newline: str = "\n") -> Path:
    path.write_bytes(newline.join(lines).encode(encoding) + newline.encode())
    return path


def run_import(path: Path) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import-gateways", str(path), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def refused_import(path: Path) -> str:
    """Import ``path`` expecting a refusal; returns stderr plus the error, after checking
    that nothing was loaded."""
    before = Gateway.objects.count()
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("import-gateways", str(path), stdout=out, stderr=err)
    assert Gateway.objects.count() == before, "a refused list must load nothing"
    assert "nothing imported" in str(refused.value)
    return err.getvalue() + "\n" + str(refused.value)


# --- provision-gateways -------------------------------------------------------------


def test_provision_writes_the_sheet_list_and_stores_only_hashes(tmp_path):
    out = tmp_path / "sheets.csv"

    # left as written (fmt: skip): a command line, each option beside its value
    printed = provision(
        "--count", "3", "--model", "KP-GWBT-B", "--part-number", "2874598-7 A",
        "--lot", "07", "--out", str(out),
    )  # fmt: skip

    assert "provisioned 3 gateways" in printed
    header, rows = read_sheet_list(out)
    assert header == HEADER
    assert len(rows) == 3
    assert len({r["gateway_id"] for r in rows}) == 3
    for row in rows:
        assert ID_SHAPE.fullmatch(row["gateway_id"]), row
        assert row["gateway_id"].startswith("07")
        assert PASSWORD_SHAPE.fullmatch(row["password"]), row
        assert row["model"] == "KP-GWBT-B"
        assert row["part_number"] == "2874598-7 A"

        gateway = Gateway.objects.get(gateway_id=row["gateway_id"])
        assert gateway.state == Gateway.State.UNCLAIMED
        assert gateway.owner is None and gateway.site is None
        assert gateway.model == "KP-GWBT-B" and gateway.part_number == "2874598-7 A"
        assert gateway.password_hash.startswith("argon2")
        assert row["password"] not in gateway.password_hash
        assert check_password(row["password"], gateway.password_hash)
        assert not check_password(row["password"][::-1], gateway.password_hash)
        # the device secret, too, exists in plaintext only in the CSV
        assert SECRET_SHAPE.fullmatch(row["device_secret"]), row
        assert row["device_secret"] not in gateway.device_secret_hash
        assert device_secret_matches(gateway, row["device_secret"])
        assert not device_secret_matches(gateway, row["device_secret"][::-1])
    assert Gateway.objects.count() == 3


def test_the_plaintext_is_nowhere_in_the_database(tmp_path):
    out = tmp_path / "sheets.csv"
    provision("--count", "2", "--out", str(out))
    _, rows = read_sheet_list(out)
    stored_text = " ".join(str(v) for row in Gateway.objects.values() for v in row.values())
    for row in rows:
        assert row["password"] not in stored_text


def test_the_sheet_list_is_readable_by_its_owner_only(tmp_path):
    out = tmp_path / "sheets.csv"
    provision("--count", "1", "--out", str(out))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_provision_defaults_model_and_lot(tmp_path):
    out = tmp_path / "sheets.csv"
    provision("--count", "1", "--out", str(out))
    _, [row] = read_sheet_list(out)
    assert row["model"] == "KP-GWBT-A"
    assert row["part_number"] == ""
    assert row["gateway_id"][:2] == f"{timezone.localdate().year % 100:02d}"


def test_provision_refuses_to_overwrite_an_existing_list(tmp_path):
    out = tmp_path / "sheets.csv"
    out.write_text("the only copy of last week's passwords\n")

    with pytest.raises(CommandError, match="exists"):
        provision("--count", "1", "--out", str(out))

    assert out.read_text() == "the only copy of last week's passwords\n"
    assert Gateway.objects.count() == 0


@pytest.mark.parametrize("count", ["0", "-3"])
def test_provision_refuses_a_count_below_one(tmp_path, count):
    out = tmp_path / "sheets.csv"
    with pytest.raises(CommandError, match="台数は1〜100000台"):
        provision("--count", count, "--out", str(out))
    assert not out.exists()
    assert Gateway.objects.count() == 0


@pytest.mark.parametrize("lot", ["1", "123", "AB", "1A", "０１", "٠١"])
def test_provision_refuses_a_bad_lot(tmp_path, lot):
    out = tmp_path / "sheets.csv"
    with pytest.raises(CommandError, match="ロット"):
        provision("--count", "1", "--lot", lot, "--out", str(out))
    assert not out.exists()
    assert Gateway.objects.count() == 0


@pytest.mark.parametrize("model", ["kp-gwbt-a", "KP GWBT", "-KPGW", "K", "KP/GW", "KP-GWBT-A\n"])
def test_provision_refuses_a_bad_model(tmp_path, model):
    out = tmp_path / "sheets.csv"
    with pytest.raises(CommandError, match=r"形式|--model"):  # argparse refuses "-KPGW"
        provision("--count", "1", "--model", model, "--out", str(out))
    assert not out.exists()
    assert Gateway.objects.count() == 0


def test_provision_refuses_a_part_number_longer_than_the_column(tmp_path):
    out = tmp_path / "sheets.csv"
    with pytest.raises(CommandError, match="品番は32文字以内"):
        provision("--count", "1", "--part-number", "9" * 33, "--out", str(out))
    assert not out.exists()
    assert Gateway.objects.count() == 0


def test_provision_refuses_a_missing_directory(tmp_path):
    out = tmp_path / "no-such-dir" / "sheets.csv"
    with pytest.raises(CommandError, match="not a directory"):
        provision("--count", "1", "--out", str(out))
    assert Gateway.objects.count() == 0


def test_provision_keeps_no_gateways_when_the_list_cannot_be_written(tmp_path, monkeypatch):
    """Gateways whose passwords were never written down could not be registered by anyone."""
    command = importlib.import_module("essmon.gateways.management.commands.provision-gateways")

    def disk_full(path, rows):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(command, "write_gateway_csv", disk_full)

    with pytest.raises(OSError):
        provision("--count", "2", "--out", str(tmp_path / "sheets.csv"))
    assert Gateway.objects.count() == 0


def test_a_provisioned_list_is_a_valid_factory_list(tmp_path):
    """The sheet list and the factory list share one format."""
    out = tmp_path / "sheets.csv"
    provision("--count", "2", "--part-number", "2874598-7 A", "--out", str(out))
    _, rows = read_sheet_list(out)
    Gateway.objects.all().delete()

    printed, _ = run_import(out)

    assert "imported 2 gateways" in printed
    for row in rows:
        gateway = Gateway.objects.get(gateway_id=row["gateway_id"])
        assert check_password(row["password"], gateway.password_hash)
        assert gateway.part_number == "2874598-7 A"


# --- import-gateways ----------------------------------------------------------------

GOOD = [
    "01AB00000001,abcdefghjk123,KP-GWBT-A,2874598-7 A",
    "01AB00000002,zyxw98765abcd,KP-GWBT-A,",
    "01AB00000003,mnop4567qrstu,KP-GWBT-B",
]


def test_import_loads_good_rows_unclaimed_with_hashed_passwords(tmp_path):
    path = write_list(tmp_path / "factory.csv", ",".join(HEADER), *GOOD)

    printed, errors = run_import(path)

    assert "imported 3 gateways" in printed
    assert errors == ""
    loaded = {g.gateway_id: g for g in Gateway.objects.all()}
    assert sorted(loaded) == ["01AB00000001", "01AB00000002", "01AB00000003"]
    for line in GOOD:
        gateway_id, password, model, *rest = line.split(",")
        gateway = loaded[gateway_id]
        assert gateway.state == Gateway.State.UNCLAIMED
        assert gateway.owner is None
        assert gateway.model == model
        assert gateway.part_number == (rest[0] if rest else "")
        assert gateway.password_hash.startswith("argon2")
        assert password not in gateway.password_hash
        assert check_password(password, gateway.password_hash)


def test_import_accepts_a_list_without_part_numbers(tmp_path):
    path = write_list(
        tmp_path / "factory.csv",
        "gateway_id,password,model",
        "01AB00000001,abcdefghjk123,KP-GWBT-A",
    )
    run_import(path)
    assert Gateway.objects.get().part_number == ""


def test_import_reads_a_spreadsheet_export_with_bom_and_crlf(tmp_path):
    path = write_list(
        tmp_path / "factory.csv",
        ",".join(HEADER),
        *GOOD,
        "",  # the blank last line spreadsheets leave
        encoding="utf-8-sig",
        newline="\r\n",
    )
    assert path.read_bytes().startswith(b"\xef\xbb\xbfgateway_id,")

    printed, _ = run_import(path)

    assert "imported 3 gateways" in printed
    gateway = Gateway.objects.get(gateway_id="01AB00000001")
    assert gateway.part_number == "2874598-7 A"
    assert check_password("abcdefghjk123", gateway.password_hash)


BAD_ROWS = {
    "too few columns": ("01AB00000009,abcdefghjk123", "列の数が見出しと違います(見出し5列"),
    "too many columns": (
        "01AB00000009,abcdefghjk123,KP-GWBT-A,X,Y,Z",
        "列の数が見出しと違います(見出し5列",
    ),
    "slash in ID": ("01AB0000/009,abcdefghjk123,KP-GWBT-A", "gateway_id"),
    "plus in ID": ("01AB0000+009,abcdefghjk123,KP-GWBT-A", "gateway_id"),
    "hash in ID": ("01AB0000#009,abcdefghjk123,KP-GWBT-A", "gateway_id"),
    "lowercase ID": ("01ab00000009,abcdefghjk123,KP-GWBT-A", "gateway_id"),
    "ID too short": ("01AB0000009,abcdefghjk123,KP-GWBT-A", "gateway_id"),
    "ID too long": ("01AB000000009,abcdefghjk123,KP-GWBT-A", "gateway_id"),
    "letters where digits go": ("ABCD00000009,abcdefghjk123,KP-GWBT-A", "gateway_id"),
    "full-width digits in ID": ("０１AB00000009,abcdefghjk123,KP-GWBT-A", "gateway_id"),
    "empty ID": (",abcdefghjk123,KP-GWBT-A", "gateway_id"),
    "short password": ("01AB00000009,abc1234,KP-GWBT-A", "password"),
    "password with a symbol": ("01AB00000009,abcdefgh-k123,KP-GWBT-A", "password"),
    "lowercase model": ("01AB00000009,abcdefghjk123,kp-gwbt-a", "model"),
    "empty model": ("01AB00000009,abcdefghjk123,", "model"),
    "part number too long": ("01AB00000009,abcdefghjk123,KP-GWBT-A," + "9" * 33, "part_number"),
}


@pytest.mark.parametrize("bad_row, expected", BAD_ROWS.values(), ids=BAD_ROWS.keys())
def test_import_refuses_the_whole_list_for_one_bad_row(tmp_path, bad_row, expected):
    path = write_list(tmp_path / "factory.csv", ",".join(HEADER), GOOD[0], bad_row, GOOD[1])

    report = refused_import(path)

    assert "3行目:" in report
    assert expected in report
    assert "2行目:" not in report and "4行目:" not in report
    assert Gateway.objects.count() == 0


def test_import_names_every_bad_line(tmp_path):
    path = write_list(
        tmp_path / "factory.csv",
        ",".join(HEADER),
        GOOD[0],
        "01ab00000005,abcdefghjk123,KP-GWBT-A",
        GOOD[1],
        "01AB00000006,short,KP-GWBT-A",
        "01AB00000007,abcdefghjk123",
    )

    report = refused_import(path)

    for line_no in (3, 5, 6):
        assert f"{line_no}行目:" in report
    assert "2行目:" not in report and "4行目:" not in report
    assert "3 problems" in report


def test_import_refuses_an_id_repeated_within_the_list(tmp_path):
    path = write_list(
        tmp_path / "factory.csv",
        ",".join(HEADER),
        GOOD[0],
        GOOD[1],
        "01AB00000001,qrstuvwxyz234,KP-GWBT-A",
    )

    report = refused_import(path)

    assert "4行目: gateway_id 01AB00000001 が2行目と重複しています" in report


def test_import_refuses_an_id_already_registered(tmp_path):
    existing = factories.gateway(gateway_id="01AB00000002", password="originalpass1")
    path = write_list(tmp_path / "factory.csv", ",".join(HEADER), *GOOD)

    report = refused_import(path)

    assert "3行目: gateway_id 01AB00000002 はすでに登録されています" in report
    assert list(Gateway.objects.values_list("gateway_id", flat=True)) == ["01AB00000002"]
    existing.refresh_from_db()
    assert check_password("originalpass1", existing.password_hash), "never overwritten"


@pytest.mark.parametrize(
    "header",
    [
        "id,password,model,part_number",
        "gateway_id,password",
        "password,gateway_id,model,part_number",
        "gateway_id,password,model,notes",
        "01AB00000009,abcdefghjk123,KP-GWBT-A,",  # no header at all: the first row is lost
    ],
)
def test_import_refuses_a_bad_header(tmp_path, header):
    path = write_list(tmp_path / "factory.csv", header, *GOOD)

    report = refused_import(path)

    assert "1行目: 見出しは gateway_id,password,model,part_number" in report


def test_import_refuses_an_empty_list(tmp_path):
    path = write_list(tmp_path / "factory.csv", ",".join(HEADER))
    report = refused_import(path)
    assert "ゲートウェイが1台もありません" in report


def test_import_refuses_a_file_that_is_not_utf8(tmp_path):
    path = write_list(
        tmp_path / "factory.csv",
        ",".join(HEADER),
        "01AB00000001,abcdefghjk123,KP-GWBT-A,蓄電池用",
        encoding="cp932",
    )
    report = refused_import(path)
    assert "読み込めません" in report


def test_import_refuses_a_missing_file(tmp_path):
    report = refused_import(tmp_path / "missing.csv")
    assert "読み込めません" in report


# --- the console script ---------------------------------------------------------------


def test_the_essmon_console_script_lists_the_operator_commands(tmp_path):
    script = Path(sys.executable).with_name("essmon")
    assert script.exists(), f"console script missing at {script} (pip install -e .)"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ESSMON_", "DJANGO_"))}
    env["ESSMON_DATA_DIR"] = str(tmp_path)

    done = subprocess.run(
        [str(script), "help"], env=env, capture_output=True, text=True, timeout=60, check=False
    )

    assert done.returncode == 0, done.stderr
    listed = {line.strip() for line in done.stdout.splitlines()}
    for command in ("provision-gateways", "import-gateways", "scheduler", "serve"):
        assert command in listed, done.stdout


def test_import_takes_device_secrets_and_refuses_bad_ones(tmp_path):
    good = "A" * 32
    path = tmp_path / "factory.csv"
    path.write_text(
        "gateway_id,password,model,part_number,device_secret\n"
        f"01AB00000011,abcdefghjk123,KP-GWBT-A,,{good}\n"
    )
    call_command("import-gateways", str(path), stdout=io.StringIO())
    assert device_secret_matches(Gateway.objects.get(gateway_id="01AB00000011"), good)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "gateway_id,password,model,part_number,device_secret\n"
        "01AB00000012,abcdefghjk123,KP-GWBT-A,,short!\n"
    )
    with pytest.raises(CommandError):
        call_command("import-gateways", str(bad), stdout=io.StringIO(), stderr=io.StringIO())
    assert not Gateway.objects.filter(gateway_id="01AB00000012").exists()


def test_rotate_device_secret(tmp_path):
    out = tmp_path / "sheets.csv"
    provision("--count", "1", "--out", str(out))
    _, (row,) = read_sheet_list(out)
    printed = io.StringIO()
    call_command("rotate-device-secret", row["gateway_id"], stdout=printed)
    new_secret = printed.getvalue().strip()
    gateway = Gateway.objects.get(gateway_id=row["gateway_id"])
    assert device_secret_matches(gateway, new_secret)
    assert not device_secret_matches(gateway, row["device_secret"])
    with pytest.raises(CommandError):
        call_command("rotate-device-secret", "99ZZ99999999", stdout=io.StringIO())
