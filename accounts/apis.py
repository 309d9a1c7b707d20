"""The base of every API view."""

from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

from accounts.permissions import HasStaffRole


class ApiAuthMixin(APIView):
    """Base of every API view: DRF authenticates (token or session) and enforces the role.

    DRF views are exempt from Django's LoginRequiredMiddleware (it only knows session logins and
    would redirect a token client to the HTML login page); these permission classes replace it.
    Their request is an `accounts.http.AuthedRequest`.
    """

    permission_classes = [IsAuthenticated, HasStaffRole]
