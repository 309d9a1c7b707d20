from pathlib import Path

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.conf import settings
        from django.urls import register_converter

        from core.converters import IdConverter

        # Registered here, before any URL configuration is loaded: every route uses <id:...>.
        register_converter(IdConverter, "id")

        from config.env import VAR_DIR

        VAR_DIR.mkdir(parents=True, exist_ok=True)
        if settings.CELERY_BROKER_URL.startswith("filesystem://"):
            # kombu's file-system transport expects its folders to exist already.
            for key in ("data_folder_in", "processed_folder"):
                folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS[key]
                Path(folder).mkdir(parents=True, exist_ok=True)
