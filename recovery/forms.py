from django import forms


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    # Free text, parsed by the service, so a wrong amount gets the policy's own message.
    amount = forms.CharField(required=False, max_length=20)
    currency = forms.CharField(required=False, max_length=3)
    reason = forms.CharField(required=False, max_length=2000, widget=forms.TextInput)
    # "I confirm sending ... to the customer": needed above RECOVERY_CONFIRM_ABOVE (the view
    # checks it against the amount, `approval_confirmation_check`).
    confirm = forms.BooleanField(required=False)


class AddActionForm(forms.Form):
    action = forms.SlugField(max_length=50)
    amount = forms.CharField(required=False, max_length=20)
    currency = forms.CharField(required=False, max_length=3)
    reason = forms.CharField(max_length=2000, widget=forms.TextInput)
    confirm = forms.BooleanField(required=False)


class CoapprovalForm(forms.Form):
    approve = forms.ChoiceField(choices=[("yes", "Co-approve"), ("no", "Refuse")])
    reason = forms.CharField(required=False, max_length=2000, widget=forms.TextInput)
