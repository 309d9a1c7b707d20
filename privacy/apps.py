from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    """Customers' rights: consent, data exports, erasure, retention and the privacy log."""

    name = "privacy"
    verbose_name = "Privacy"

    def ready(self) -> None:
        # The lower apps read consent and erasures through interfaces they own; the records
        # are kept here, so this app installs the readers (see tickets/consent.py for why not
        # a setting). Imported here: models cannot be imported before the registry is ready.
        from privacy.selectors import ConsentRecordReader, PrivacyLogErasures
        from tickets.consent import consent_reader_register
        from tickets.customer_data import erasure_log_register

        consent_reader_register(reader=ConsentRecordReader())
        erasure_log_register(log=PrivacyLogErasures())
