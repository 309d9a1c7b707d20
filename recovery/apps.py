from django.apps import AppConfig


class RecoveryConfig(AppConfig):
    name = "recovery"
    verbose_name = "Recovery actions"

    def ready(self) -> None:
        # The copilot publishes, recovery listens: the copilot (a lower layer) never imports it.
        from recovery.receivers import receivers_connect

        receivers_connect()
