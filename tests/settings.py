"""Settings for the test suite: essmon's own, with a throw-away data directory and
tasks run in-process so that a test sees the effect of ``enqueue`` at once."""

import atexit
import os
import shutil
import tempfile

# made only when none is given (a child process of a test inherits its parent's), and
# removed by the process that made it when it exits, so runs leave nothing in /tmp
if "ESSMON_DATA_DIR" not in os.environ:
    os.environ["ESSMON_DATA_DIR"] = tempfile.mkdtemp(prefix="essmon-test-")
    atexit.register(shutil.rmtree, os.environ["ESSMON_DATA_DIR"], ignore_errors=True)
os.environ.setdefault("ESSMON_EMAIL_URL", "locmem://")
os.environ.setdefault("ESSMON_BASE_URL", "http://testserver")
# Playwright's sync API keeps an event loop in the test thread; the ORM calls the tests
# make beside it are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from essmon.settings import *  # noqa: F403

# Argon2 at its lowest cost (tests/hashers.py says why): Django's default cost is most of
# the suite's time otherwise.
PASSWORD_HASHERS = [
    "tests.hashers.CheapArgon2PasswordHasher",
    *PASSWORD_HASHERS[1:],  # noqa: F405
]

TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
LOGGING["root"]["level"] = "WARNING"  # noqa: F405

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, as in production (WAL, busy timeout): in-memory shared-cache SQLite
    # fails concurrent writers at once instead of making them wait.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}  # noqa: F405

# Requests served by test servers run on threads of their own: a persistent connection
# would outlive its thread and keep the test database from being dropped at the end.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405

# Every django.test.Client loads the middleware anew, and WhiteNoise (WHITENOISE_USE_FINDERS,
# as in development) would list every static file of every app each time: the access
# matrix's ~1,500 clients spent a seventh of its time there. With autorefresh WhiteNoise
# finds a file when it is asked for, through the same finders, and serves it the same way.
WHITENOISE_AUTOREFRESH = True
