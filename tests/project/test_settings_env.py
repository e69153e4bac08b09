"""The ``ESSMON_*`` readers in essmon/env.py, above all ``ESSMON_EMAIL_URL``."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from essmon.env import email_settings_from_url, env_bool, env_int, env_list, env_path

SMTP = "django.core.mail.backends.smtp.EmailBackend"

# --- ESSMON_EMAIL_URL --------------------------------------------------------------------


def test_console():
    assert email_settings_from_url("console://") == {
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"
    }


def test_locmem_for_tests():
    assert email_settings_from_url("locmem://") == {
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"
    }


def test_file_writes_into_a_directory():
    assert email_settings_from_url("file:///var/lib/essmon/mail") == {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": "/var/lib/essmon/mail",
    }


def test_file_path_is_percent_decoded():
    settings = email_settings_from_url("file:///srv/mail%20out")
    assert settings["EMAIL_FILE_PATH"] == "/srv/mail out"


def test_file_localhost_is_the_same_as_no_host():
    settings = email_settings_from_url("file://localhost/srv/mail")
    assert settings["EMAIL_FILE_PATH"] == "/srv/mail"


def test_file_without_a_path_is_refused():
    with pytest.raises(ImproperlyConfigured, match="directory path"):
        email_settings_from_url("file://")


def test_file_with_two_slashes_is_refused_not_misread():
    # file://var/mail would otherwise parse as host "var", path "/mail": mail in the wrong place
    with pytest.raises(ImproperlyConfigured, match="file:///"):
        email_settings_from_url("file://var/mail")


def test_smtp_with_user_password_and_port():
    assert email_settings_from_url("smtp://essmon:s3cret@mail.example.jp:2525") == {
        "EMAIL_BACKEND": SMTP,
        "EMAIL_HOST": "mail.example.jp",
        "EMAIL_PORT": 2525,
        "EMAIL_HOST_USER": "essmon",
        "EMAIL_HOST_PASSWORD": "s3cret",
        "EMAIL_USE_SSL": False,
        "EMAIL_USE_TLS": False,
        "EMAIL_TIMEOUT": 10,
    }


def test_smtp_defaults_to_port_25_without_login():
    settings = email_settings_from_url("smtp://mail.example.jp")
    assert settings["EMAIL_PORT"] == 25
    assert settings["EMAIL_HOST_USER"] == settings["EMAIL_HOST_PASSWORD"] == ""
    assert settings["EMAIL_USE_TLS"] is False and settings["EMAIL_USE_SSL"] is False


def test_smtp_user_and_password_are_percent_decoded():
    settings = email_settings_from_url("smtp://no-reply%40example.jp:p%40ss%2Fw%3Ard@mail:587")
    assert settings["EMAIL_HOST_USER"] == "no-reply@example.jp"
    assert settings["EMAIL_HOST_PASSWORD"] == "p@ss/w:rd"
    assert settings["EMAIL_HOST"] == "mail"


@pytest.mark.parametrize("flag", ["1", "true", "yes", "on", "TRUE"])
def test_smtp_starttls(flag):
    settings = email_settings_from_url(f"smtp://u:p@mail.example.jp:587?starttls={flag}")
    assert settings["EMAIL_USE_TLS"] is True
    assert settings["EMAIL_USE_SSL"] is False
    assert settings["EMAIL_PORT"] == 587


@pytest.mark.parametrize("flag", ["0", "false", "no", "off", ""])
def test_smtp_starttls_off(flag):
    settings = email_settings_from_url(f"smtp://mail.example.jp:587?starttls={flag}")
    assert settings["EMAIL_USE_TLS"] is False


def test_smtps_is_implicit_tls_on_465():
    settings = email_settings_from_url("smtps://essmon:s3cret@mail.example.jp")
    assert settings["EMAIL_BACKEND"] == SMTP
    assert settings["EMAIL_PORT"] == 465
    assert settings["EMAIL_USE_SSL"] is True
    assert settings["EMAIL_USE_TLS"] is False
    assert settings["EMAIL_HOST_USER"] == "essmon"


def test_smtps_never_sets_both_tls_modes():
    # Django refuses EMAIL_USE_TLS and EMAIL_USE_SSL together
    settings = email_settings_from_url("smtps://mail.example.jp:4650?starttls=1")
    assert settings["EMAIL_USE_SSL"] is True
    assert settings["EMAIL_USE_TLS"] is False
    assert settings["EMAIL_PORT"] == 4650


def test_scheme_is_case_insensitive():
    assert email_settings_from_url("SMTP://mail.example.jp")["EMAIL_HOST"] == "mail.example.jp"


def test_smtp_timeout():
    assert email_settings_from_url("smtp://mail.example.jp?timeout=30")["EMAIL_TIMEOUT"] == 30


@pytest.mark.parametrize(
    "url, complaint",
    [
        ("smtp://", "needs a host"),
        ("smtps://:587", "needs a host"),
        ("smtp://mail.example.jp:99999", "bad port"),
        ("smtp://mail.example.jp:abc", "bad port"),
        ("smtp://mail.example.jp?timeout=soon", "timeout"),
    ],
)
def test_smtp_mistakes_are_refused(url, complaint):
    with pytest.raises(ImproperlyConfigured, match=complaint):
        email_settings_from_url(url)


@pytest.mark.parametrize(
    "url",
    ["http://mail.example.jp", "sendmail://", "mailto:ops@example.jp", "mail.example.jp", ""],
)
def test_an_unknown_scheme_is_refused(url):
    with pytest.raises(ImproperlyConfigured, match="scheme must be console, file, smtp or smtps"):
        email_settings_from_url(url)


def test_the_error_names_the_variable():
    with pytest.raises(ImproperlyConfigured, match="ESSMON_EMAIL_URL="):
        email_settings_from_url("pop3://mail.example.jp")


# --- the other readers -----------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        *[("1", True), ("true", True), (" Yes ", True), ("on", True)],
        *[("0", False), ("false", False), ("no", False), ("OFF", False), ("", False)],
    ],
)
def test_env_bool(monkeypatch, raw, expected):
    monkeypatch.setenv("ESSMON_TEST_FLAG", raw)
    assert env_bool("ESSMON_TEST_FLAG", not expected) is expected


def test_env_bool_default_and_typo(monkeypatch):
    monkeypatch.delenv("ESSMON_TEST_FLAG", raising=False)
    assert env_bool("ESSMON_TEST_FLAG", True) is True
    monkeypatch.setenv("ESSMON_TEST_FLAG", "ture")
    with pytest.raises(ImproperlyConfigured, match="ESSMON_TEST_FLAG='ture'"):
        env_bool("ESSMON_TEST_FLAG")


def test_env_int(monkeypatch):
    monkeypatch.delenv("ESSMON_TEST_N", raising=False)
    assert env_int("ESSMON_TEST_N", 7) == 7
    monkeypatch.setenv("ESSMON_TEST_N", "")
    assert env_int("ESSMON_TEST_N", 7) == 7
    monkeypatch.setenv("ESSMON_TEST_N", "42")
    assert env_int("ESSMON_TEST_N", 7) == 42
    monkeypatch.setenv("ESSMON_TEST_N", "4.5")
    with pytest.raises(ImproperlyConfigured, match="whole number"):
        env_int("ESSMON_TEST_N", 7)


def test_env_list(monkeypatch):
    monkeypatch.delenv("ESSMON_TEST_LIST", raising=False)
    assert env_list("ESSMON_TEST_LIST", ["a"]) == ["a"]
    monkeypatch.setenv("ESSMON_TEST_LIST", " essmon.example.jp, ,www.essmon.example.jp ,")
    assert env_list("ESSMON_TEST_LIST", ["a"]) == ["essmon.example.jp", "www.essmon.example.jp"]
    monkeypatch.setenv("ESSMON_TEST_LIST", "")
    assert env_list("ESSMON_TEST_LIST", ["a"]) == []


def test_env_path(monkeypatch, tmp_path):
    monkeypatch.delenv("ESSMON_TEST_DIR", raising=False)
    assert env_path("ESSMON_TEST_DIR", Path("/default")) == Path("/default")
    monkeypatch.setenv("ESSMON_TEST_DIR", str(tmp_path / "x" / ".." / "data"))
    assert env_path("ESSMON_TEST_DIR", Path("/default")) == tmp_path / "data"
