"""Reads of customers' data exports."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User
from privacy.models import DataExport
from tickets.models import Customer


def export_list_for_customer(*, customer: Customer) -> QuerySet[DataExport]:
    """The customer's exports, newest first."""
    return DataExport.objects.filter(customer=customer).order_by("-created_at", "-id")


def export_get_for_user(*, user: User, export_id: int) -> DataExport:
    """One export, for an admin; 404 for anyone else, as for an export that does not exist."""
    if not user.is_admin_role:
        raise Http404("No such export.")
    try:
        return DataExport.objects.select_related("customer").get(pk=export_id)
    except DataExport.DoesNotExist:
        raise Http404("No such export.") from None


def export_path(*, export: DataExport) -> Path:
    """Where the export's zip is (or will be). Only the file name is taken from the row, so a
    stored value can never point outside PRIVACY_EXPORT_DIR."""
    return Path(settings.PRIVACY_EXPORT_DIR) / Path(export.file).name
