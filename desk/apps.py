from django.apps import AppConfig


class DeskConfig(AppConfig):
    """The agent's desk: the pages and fragments that put tickets, the copilot and recovery on
    one screen. The top layer: it may import every app, and none imports it."""

    name = "desk"
    verbose_name = "Desk"
