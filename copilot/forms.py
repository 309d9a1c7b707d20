"""Forms of the admins' reply library pages."""

from django import forms

from accounts.models import Team
from copilot.models import ReplySource

TEXT_MAX = 5000


class ReplyFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search")
    team = forms.ModelChoiceField(
        queryset=Team.objects.order_by("name"), required=False, empty_label="Every team"
    )
    company = forms.CharField(required=False, max_length=100, label="Company")
    source = forms.ChoiceField(choices=[("", "Any source"), *ReplySource.choices], required=False)
    active = forms.ChoiceField(
        choices=[("", "On and off"), ("yes", "On"), ("no", "Off")], required=False, label="State"
    )


class ReplyAddForm(forms.Form):
    team = forms.ModelChoiceField(queryset=Team.objects.order_by("name"))
    company = forms.CharField(
        required=False,
        max_length=100,
        help_text="The brand whose tickets get this reply, as on its tickets; "
        "empty for the team's tickets without a company.",
    )
    text = forms.CharField(
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="Slots are filled from the ticket at hand: {customer_first_name}, "
        "{agent_name}, {order_number}, {email}, {phone}, {url}.",
    )


class ReplyEditForm(forms.Form):
    text = forms.CharField(max_length=TEXT_MAX, widget=forms.Textarea(attrs={"rows": 6}))
    active = forms.BooleanField(required=False, label="Suggested to agents")


class ReplyToggleForm(forms.Form):
    active = forms.ChoiceField(choices=[("yes", "On"), ("no", "Off")])
