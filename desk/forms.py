from django import forms

from desk.services import SAVED_VIEW_NAME_MAX


class SavedViewForm(forms.Form):
    """Save the inbox's current filters (`query`, the page's own query string) under a name."""

    name = forms.CharField(
        max_length=SAVED_VIEW_NAME_MAX,
        label="View name",
        widget=forms.TextInput(attrs={"placeholder": "Name these filters", "autocomplete": "off"}),
    )
    query = forms.CharField(required=False, max_length=1000, widget=forms.HiddenInput)


class SavedViewRenameForm(forms.Form):
    name = forms.CharField(max_length=SAVED_VIEW_NAME_MAX, label="New name")
