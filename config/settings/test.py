"""Test settings: the same wiring as production, with fast password hashing.

The database still comes from DATABASE_URL, so the suite runs once on SQLite and once on the real
PostgreSQL (see `dev test`).
"""

import os

from config.env import env
from config.settings.base import *  # noqa: F403
from config.settings.base import DATABASES, REST_FRAMEWORK, VAR_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so that a real Celery worker in another process sees the same rows.
    # Named after the run, so two runs at once (a developer's and CI's) do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
AXES_FAILURE_LIMIT = 5
# The API's throttles stay on in every test (the same classes as production), at rates no single
# test reaches by accident: one test makes up to a few dozen calls as one user, the schema fuzz test
# 15 per operation. The tests of the limits (tests/test_throttling.py) set the rates they check.
# Counters live in the cache, which every test starts empty (tests/conftest.py).
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        scope: "10000/min" for scope in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    },
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# Tests that start a real worker use the real Redis. A queue of this run's own keeps two runs on
# one machine (or a leftover task of an earlier run) from feeding each other's workers.
CELERY_BROKER_URL = env.str("TEST_REDIS_URL", default="redis://127.0.0.1:6379/15")
# How long an unacknowledged task waits before Redis hands it to another worker (a test of a
# killed worker shortens it).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=60)
}
CELERY_TASK_DEFAULT_QUEUE = env.str(
    "CELERY_TASK_DEFAULT_QUEUE", default=f"copilot-test-{os.getpid()}"
)
# Every task to that one queue, consumed by the test's worker.
CELERY_TASK_ROUTES = {}
CELERY_WORKER_QUEUES = [CELERY_TASK_DEFAULT_QUEUE]

# Models and the index live in this run's own directories: a developer's trained intent model or
# published index in var/ must not change what the tests see, and two runs must not share one.
COPILOT_INDEX_DIR = env.str("COPILOT_INDEX_DIR", default=str(VAR_DIR / f"test-index-{os.getpid()}"))
COPILOT_INTENT_MODEL_DIR = env.str(
    "COPILOT_INTENT_MODEL_DIR", default=str(VAR_DIR / f"test-intent-{os.getpid()}")
)
COPILOT_INTENT_LABEL_SETS_DIR = env.str(
    "COPILOT_INTENT_LABEL_SETS_DIR", default=str(VAR_DIR / f"test-intent-sets-{os.getpid()}")
)
# Suggestions rank by the encoder's cosine unless a test turns the shipped selector on: the tests
# of the library, the panel and the keys use small made-up libraries that the shipped selector's
# trigger (calibrated on real conversations) would mostly silence. The selector's own tests and the
# done-when browser test on a real demo conversation run with it on.
COPILOT_SELECTOR_SHIPPED = env.bool("COPILOT_SELECTOR_SHIPPED", default=False)
RECOVERY_CHURN_MODEL_DIR = env.str(
    "RECOVERY_CHURN_MODEL_DIR", default=str(VAR_DIR / f"test-churn-{os.getpid()}")
)
PRIVACY_EXPORT_DIR = env.str(
    "PRIVACY_EXPORT_DIR", default=str(VAR_DIR / f"test-exports-{os.getpid()}")
)
