from django.contrib import admin

from copilot.models import MessageAnalysis


@admin.register(MessageAnalysis)
class MessageAnalysisAdmin(admin.ModelAdmin):
    list_display = ["ticket", "transcript_version", "status", "attempts", "requested_at"]
    list_filter = ["status"]
    raw_id_fields = ["ticket", "message"]
    readonly_fields = [f.name for f in MessageAnalysis._meta.fields]
