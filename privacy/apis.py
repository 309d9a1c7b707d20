"""REST API for customers' consent: one APIView per operation.

For the shop's systems (a shop integration's token) and admins, as the rest of the customer
records (`tickets.selectors.customer_records_managed_by`).
"""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.apis import ApiAuthMixin
from accounts.http import AuthedRequest
from privacy.models import ConsentRecord
from privacy.selectors import ConsentRecordReader
from privacy.services import consent_record
from tickets.consent import ConsentPurpose
from tickets.models import Customer
from tickets.selectors import customer_get_for_user, customer_records_managed_by


class ConsentOutput(serializers.ModelSerializer[ConsentRecord]):
    recorded_by = serializers.CharField(source="recorded_by.username", default=None)

    class Meta:
        model = ConsentRecord
        fields = ["id", "purpose", "granted", "source", "note", "recorded_by", "recorded_at"]


class CustomerConsentApi(ApiAuthMixin, APIView):
    """For the shop's systems (a shop integration's token) and admins: the customer's consent."""

    integration_methods = ("GET", "POST")

    class ConsentInput(serializers.Serializer[Any]):
        purpose = serializers.ChoiceField(choices=ConsentPurpose.choices)
        granted = serializers.BooleanField()
        # The API field is called "source"; DRF fields have an attribute of that name too.
        source = serializers.CharField(max_length=50, default="api")  # type: ignore[assignment]
        note = serializers.CharField(max_length=2000, required=False, default="")

    def _customer(self, request: AuthedRequest, customer_id: int) -> Customer:
        if not customer_records_managed_by(user=request.user):
            raise PermissionDenied("Consent is managed by admins and the shop's systems.")
        return customer_get_for_user(user=request.user, customer_id=customer_id)

    @extend_schema(
        operation_id="customer_consent_history",
        responses=ConsentOutput(many=True),
        summary="A customer's consent history, newest first (admins, shop integrations)",
    )
    def get(self, request: AuthedRequest, customer_id: int) -> Response:
        customer = self._customer(request, customer_id)
        records = ConsentRecord.objects.filter(customer=customer).order_by("-recorded_at", "-id")
        return Response(
            {
                "current": ConsentRecordReader().states(customer.pk),
                "history": ConsentOutput(records, many=True).data,
            }
        )

    @extend_schema(
        operation_id="customer_consent_record",
        request=ConsentInput,
        responses={201: ConsentOutput},
        summary="Record a customer's consent or opt-out for one purpose (admins, integrations)",
        description="Purposes: personalisation (recommendations use value, history and churn "
        "risk), training (their tickets train the models), similar_cases (their solved tickets "
        "are examples for others; an opt-out removes them from the index at once).",
    )
    def post(self, request: AuthedRequest, customer_id: int) -> Response:
        customer = self._customer(request, customer_id)
        data = self.ConsentInput(data=request.data)
        data.is_valid(raise_exception=True)
        payload: dict[str, Any] = data.validated_data
        record = consent_record(
            customer=customer,
            purpose=payload["purpose"],
            granted=payload["granted"],
            source=payload["source"],
            note=payload["note"],
            by=request.user,
        )
        return Response(ConsentOutput(record).data, status=status.HTTP_201_CREATED)
