from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from tickets.history import event_sentence
from tickets.models import Customer, Message, Ticket, TicketEvent


class ReadOnlyInline(admin.TabularInline):
    """Transcripts and events are append-only: the admin shows them but cannot change them."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MessageInline(ReadOnlyInline):
    model = Message
    fields = readonly_fields = (
        "sequence",
        "author_kind",
        "author_name",
        "posted_by",
        "posted_via",
        "body",
        "created_at",
    )


class TicketEventInline(ReadOnlyInline):
    model = TicketEvent
    fields = readonly_fields = ("created_at", "kind", "actor", "details")

    @admin.display(description="details")
    def details(self, obj: TicketEvent) -> str:
        return event_sentence(obj)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["name", "external_id", "email", "segment", "lifetime_spend", "order_count"]
    list_filter = ["segment"]
    search_fields = ["name", "email", "external_id"]


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "subject",
        "customer",
        "team",
        "company",
        "status",
        "priority",
        "last_message_at",
    ]
    list_filter = ["status", "priority", "channel", "team"]
    search_fields = ["subject", "customer__name", "external_id", "company"]
    list_select_related = ["customer", "team"]
    raw_id_fields = ["customer", "assignee"]
    # Status moves go through the service (transition table, events), not through this form.
    readonly_fields = ["status", "transcript_version", "created_at", "last_message_at", "solved_at"]
    inlines = [MessageInline, TicketEventInline]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
