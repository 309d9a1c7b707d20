"""Writes of the desk's own: an agent's saved inbox views."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from accounts.models import User
from core.errors import DomainError
from desk.inbox_views import BUILTIN_VIEWS
from desk.models import SavedView

SAVED_VIEW_NAME_MAX = SavedView._meta.get_field("name").max_length or 60
# Enough for every agent's working set; a longer list would crowd the inbox's side bar.
SAVED_VIEWS_MAX = 30


def _name_clean(*, owner: User, name: str, exclude: SavedView | None = None) -> str:
    name = " ".join(name.split())
    if not name:
        raise DomainError("Give the view a name.", field="name", code="required")
    if len(name) > SAVED_VIEW_NAME_MAX:
        raise DomainError(
            f"Keep the name to {SAVED_VIEW_NAME_MAX} characters at most.",
            field="name",
            code="max_length",
        )
    if name.casefold() in {v.name.casefold() for v in BUILTIN_VIEWS}:
        raise DomainError("A built-in view has this name already.", field="name", code="unique")
    taken = SavedView.objects.filter(owner=owner, name__iexact=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise DomainError("You have a view with this name already.", field="name", code="unique")
    return name


@transaction.atomic
def saved_view_create(*, owner: User, name: str, query: str) -> SavedView:
    """`query`: the inbox's filters, normalised (desk.inbox_views.inbox_query_normalise)."""
    name = _name_clean(owner=owner, name=name)
    if SavedView.objects.filter(owner=owner).count() >= SAVED_VIEWS_MAX:
        raise DomainError(
            f"You have {SAVED_VIEWS_MAX} views already: delete one first.",
            field="name",
            code="too_many",
        )
    try:
        with transaction.atomic():
            return SavedView.objects.create(owner=owner, name=name, query=query)
    except IntegrityError as exc:  # the same name saved at the same moment in another tab
        raise DomainError(
            "You have a view with this name already.", field="name", code="unique"
        ) from exc


@transaction.atomic
def saved_view_rename(*, view: SavedView, name: str) -> SavedView:
    """`view`: one of the user's own (desk.selectors.saved_view_get_for_user)."""
    view.name = _name_clean(owner=view.owner, name=name, exclude=view)
    try:
        with transaction.atomic():
            view.save(update_fields=["name", "updated_at"])
    except IntegrityError as exc:
        raise DomainError(
            "You have a view with this name already.", field="name", code="unique"
        ) from exc
    return view


@transaction.atomic
def saved_view_delete(*, view: SavedView) -> None:
    view.delete()
