from typing import Any

from rest_framework.permissions import BasePermission


class HasStaffRole(BasePermission):
    """API counterpart of ``role_required(Role.AGENT)``: any of agent, supervisor, admin."""

    message = "Your account has no support role."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.role is not None)
