from pathlib import Path

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.conf import settings
        from django.urls import register_converter

        import core.checks  # noqa: F401  (registers the deployment checks)
        from core.converters import IdConverter

        # Registered here, before any URL configuration is loaded: every route uses <id:...>.
        register_converter(IdConverter, "id")

        # A mistyped rate stops the start, rather than failing every API call with a 500.
        from django.core.exceptions import ImproperlyConfigured

        from core.ratelimit import rate_parse

        for scope, rate in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].items():
            try:
                rate_parse(rate)
            except ValueError as exc:
                raise ImproperlyConfigured(f"API_THROTTLE_{scope.upper()}: {exc}") from exc

        Path(settings.VAR_DIR).mkdir(parents=True, exist_ok=True)
        if settings.CELERY_BROKER_URL.startswith("filesystem://"):
            # kombu's file-system transport expects its folders to exist already.
            for key in ("data_folder_in", "processed_folder"):
                folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS[key]
                Path(str(folder)).mkdir(parents=True, exist_ok=True)
