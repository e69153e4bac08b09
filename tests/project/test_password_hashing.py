"""The production hasher. The suite hashes with Argon2 at its lowest cost (tests/hashers.py);
these tests check what production hashes with: Django's Argon2 at its full cost, for the
people's passwords and the gateways' alike."""

import pytest
from django.contrib.auth.hashers import check_password, identify_hasher, make_password
from django.test import override_settings

import essmon.settings as production
from essmon.gateways.services.credentials import hash_gateway_password

pytestmark = pytest.mark.django_db

FULL_COST = "m=102400,t=2,p=8"  # Django's Argon2PasswordHasher


def test_production_hashes_with_djangos_argon2_first():
    assert production.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


@override_settings(PASSWORD_HASHERS=production.PASSWORD_HASHERS)
def test_a_persons_and_a_gateways_password_get_argon2_at_full_cost():
    from essmon.accounts.models import User

    user = User.objects.create_user("hash@example.jp", "Solar2024Kyoto", name="試験")
    gateway_hash = hash_gateway_password("abcedfghijk12")
    for encoded, password in ((user.password, "Solar2024Kyoto"), (gateway_hash, "abcedfghijk12")):
        assert encoded.startswith("argon2$argon2id$") and FULL_COST in encoded
        assert type(identify_hasher(encoded)).__name__ == "Argon2PasswordHasher"
        assert check_password(password, encoded) and not check_password("wrong", encoded)
    assert user.check_password("Solar2024Kyoto")


def test_the_suites_hashes_are_argon2_too():
    encoded = make_password("Solar2024Kyoto")
    assert encoded.startswith("argon2$argon2id$") and FULL_COST not in encoded
