from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    """Customers' rights: consent, data exports, erasure, retention and the privacy log."""

    name = "privacy"
    verbose_name = "Privacy"
