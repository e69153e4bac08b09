"""The test suite's password hasher: Argon2 (the production hasher, essmon/settings.py) at
its lowest cost.

Django's Argon2 settings (2 passes over 100 MiB, 8 lanes) take a few tenths of a second per
hash on purpose; the suite hashes and checks passwords thousands of times (every account a
test makes, every login, every gateway's sheet password), and at that cost they were most of
its time. This hasher is the same algorithm under the same name: hashes still read
``argon2$argon2id$...``, ``make_password(..., hasher="argon2")`` still finds it, and every
check goes through argon2-cffi as in production. Only the cost parameters differ, and no
test asserts them; tests/project/test_password_hashing.py checks that production keeps
Django's Argon2 at its full cost."""

from django.contrib.auth.hashers import Argon2PasswordHasher


class CheapArgon2PasswordHasher(Argon2PasswordHasher):
    time_cost = 1
    memory_cost = 8  # KiB: argon2's minimum for one lane
    parallelism = 1
