from django.conf import settings
from django.db import models

from core.models import TimeStampedModel


class SavedView(TimeStampedModel):
    """An agent's own inbox view: a name for a set of inbox filters. Only its owner sees it
    (desk.selectors.saved_view_get_for_user); built-in views are code (desk.inbox_views)."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    name = models.CharField(max_length=60)
    # The inbox's query string, normalised (known filters only, sorted): "mine=on&sort=urgency".
    query = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["owner", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="savedview_name_once_per_owner")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.owner_id})"
