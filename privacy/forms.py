"""Forms of the admins' privacy pages."""

from django import forms

from tickets.consent import ConsentPurpose


class ConsentForm(forms.Form):
    purpose = forms.ChoiceField(choices=ConsentPurpose.choices)
    granted = forms.ChoiceField(choices=[("yes", "Consents"), ("no", "Opts out")])
    source = forms.CharField(max_length=50, initial="admin")
    note = forms.CharField(required=False, max_length=2000, widget=forms.TextInput)


class EraseForm(forms.Form):
    confirm = forms.CharField(
        max_length=10, help_text="Type ERASE to confirm: this cannot be undone."
    )

    def clean_confirm(self) -> str:
        value = self.cleaned_data["confirm"]
        if value != "ERASE":
            raise forms.ValidationError("Type ERASE (in capitals) to confirm.")
        return value
