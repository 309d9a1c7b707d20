from django import forms


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    # Free text, parsed by the service, so a wrong amount gets the policy's own message.
    amount = forms.CharField(required=False, max_length=20)
    currency = forms.CharField(required=False, max_length=3)
    reason = forms.CharField(required=False, max_length=2000, widget=forms.TextInput)


class AddActionForm(forms.Form):
    action = forms.SlugField(max_length=50)
    amount = forms.CharField(required=False, max_length=20)
    currency = forms.CharField(required=False, max_length=3)
    reason = forms.CharField(max_length=2000, widget=forms.TextInput)


class CoapprovalForm(forms.Form):
    approve = forms.ChoiceField(choices=[("yes", "Co-approve"), ("no", "Refuse")])
    reason = forms.CharField(required=False, max_length=2000, widget=forms.TextInput)
