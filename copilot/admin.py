from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from copilot.labels import intent_labels_forget
from copilot.models import IntentLabel, MessageAnalysis


@admin.register(MessageAnalysis)
class MessageAnalysisAdmin(admin.ModelAdmin):
    list_display = ["ticket", "transcript_version", "status", "attempts", "requested_at"]
    list_filter = ["status"]
    raw_id_fields = ["ticket", "message"]
    readonly_fields = [f.name for f in MessageAnalysis._meta.fields]


@admin.register(IntentLabel)
class IntentLabelAdmin(admin.ModelAdmin):
    """Admins name intents here; every screen shows the new name at once."""

    list_display = ["key", "label"]
    search_fields = ["key", "label"]

    def save_model(self, request: HttpRequest, obj: IntentLabel, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        intent_labels_forget()

    def delete_model(self, request: HttpRequest, obj: IntentLabel) -> None:
        super().delete_model(request, obj)
        intent_labels_forget()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[IntentLabel]) -> None:
        super().delete_queryset(request, queryset)
        intent_labels_forget()
