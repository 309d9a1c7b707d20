from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from accounts.models import Role

View = TypeVar("View", bound=Callable[..., HttpResponseBase])

# Higher roles include the lower ones: a supervisor can do what an agent can.
_ROLE_ORDER = [Role.AGENT, Role.SUPERVISOR, Role.ADMIN]


def role_required(role: Role) -> Callable[[View], View]:
    """Allow users holding ``role`` or a higher one; anonymous visitors go to the login page."""
    allowed = _ROLE_ORDER[_ROLE_ORDER.index(role) :]

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not any(user.has_role(r) for r in allowed):
                raise PermissionDenied("Your role does not allow this.")
            return view(request, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator
