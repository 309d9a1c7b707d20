from typing import Any

from rest_framework.authtoken.models import Token
from rest_framework.permissions import BasePermission


class HasStaffRole(BasePermission):
    """API counterpart of ``role_required(Role.AGENT)``: any of agent, supervisor, admin.

    A shop integration account holds no staff role. It is let in only to the operations a view
    lists in ``integration_methods`` (HTTP methods), and only with its API token: it is a service
    account, so a session of it would mean its password was typed into the login page.
    """

    message = "Your account has no support role."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if user.role is not None:
            return True
        if not user.is_integration:
            return False
        if request.method not in getattr(view, "integration_methods", ()):
            self.message = "This operation is not open to shop integrations."
            return False
        if not isinstance(request.auth, Token):
            self.message = "A shop integration signs in with its API token."
            return False
        return True
