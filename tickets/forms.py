from django import forms
from django.conf import settings

from tickets.models import Channel, Priority, Status
from tickets.selectors import TicketFilters


class InboxFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Active"), ("all", "All"), *Status.choices],
        label="Status",
    )
    priority = forms.ChoiceField(
        required=False, choices=[("", "Any priority"), *Priority.choices], label="Priority"
    )
    team = forms.ChoiceField(required=False, choices=[("", "All my teams")], label="Team")
    channel = forms.ChoiceField(
        required=False, choices=[("", "Any channel"), *Channel.choices], label="Channel"
    )
    mine = forms.BooleanField(required=False, label="Mine")
    unassigned = forms.BooleanField(required=False, label="Unassigned")
    q = forms.CharField(
        required=False,
        max_length=200,
        label="Search",
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": "Subject, customer name, e-mail or #number",
                "aria-describedby": "inbox-search-help",
            }
        ),
    )
    sort = forms.ChoiceField(
        required=False,
        choices=[("recent", "Newest activity"), ("urgency", "Most urgent")],
        label="Sort",
    )

    def __init__(self, *args: object, teams: list[tuple[str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["team"].choices = [("", "All my teams"), *teams]  # type: ignore[attr-defined]

    def to_filters(self) -> TicketFilters:
        """Valid fields filter; an invalid one (a stale bookmark, say) is simply ignored."""
        data = self.cleaned_data if self.is_valid() else {}
        return TicketFilters(
            status=data.get("status", ""),
            priority=data.get("priority", ""),
            team=data.get("team", ""),
            channel=data.get("channel", ""),
            mine=bool(data.get("mine", False)),
            unassigned=bool(data.get("unassigned", False)),
            q=(data.get("q") or "").strip(),
            sort=data.get("sort") or "recent",
        )


class ReplyForm(forms.Form):
    body = forms.CharField(
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "placeholder": "Write a reply to the customer",
                "aria-keyshortcuts": "r",
            }
        ),
        max_length=settings.COPILOT_MESSAGE_MAX_CHARS,
        strip=False,
        label="Reply",
    )
    # Set when the reply started from the copilot's drafted reply (its analysis id).
    draft = forms.IntegerField(required=False, widget=forms.HiddenInput)
    # ... and from which of its suggestions (0 the best), when from one.
    suggestion = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=Status.choices)
    resolution = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=settings.COPILOT_MESSAGE_MAX_CHARS,
        help_text="Needed to solve: how the customer's problem was solved.",
    )
    # Solving takes the last reply as the resolution only when the agent says so.
    use_last_reply = forms.BooleanField(
        required=False, label="Use my last message to the customer as the resolution"
    )
    # Closed is final (the customer's next contact opens a new ticket): said twice, not once.
    confirm_close = forms.BooleanField(
        required=False,
        label="Yes, close it for good: a closed ticket cannot be reopened or answered",
    )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("status") == Status.CLOSED and not data.get("confirm_close"):
            self.add_error(
                "confirm_close",
                "Closing cannot be undone: tick the box to confirm that the ticket is done.",
            )
        return data


class AssignForm(forms.Form):
    assignee = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)

    def __init__(
        self, *args: object, choices: list[tuple[int | str, str]], **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["assignee"].choices = [("", "Unassigned"), *choices]  # type: ignore[attr-defined]
