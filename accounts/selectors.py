import datetime as dt
import math

from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, QuerySet, Sum
from django.utils import timezone

from accounts.models import Role, Team, User
from core.ratelimit import rate_address_key, rate_window_get


def team_ids_for_user(*, user: User) -> set[int]:
    """The teams whose tickets this user may reach. Admins reach every team, and so does a shop
    integration (the shop's own systems), which the API lets into a few operations only."""
    cache = user.__dict__.get("_team_ids")
    if cache is None:
        if user.has_role(Role.ADMIN) or user.has_role(Role.INTEGRATION):
            cache = set(Team.objects.values_list("id", flat=True))
        else:
            cache = set(user.memberships.values_list("team_id", flat=True))
        user.__dict__["_team_ids"] = cache
    return set(cache)


def team_ids_for_supervisor(*, user: User) -> set[int]:
    """The teams whose decisions this user may audit (override queue, rates, fairness report):
    their teams if they hold the supervisor role (admins: every team), none otherwise. Agents
    hold no audit rights, whatever their teams."""
    return team_ids_for_user(user=user) if user.is_supervisor_role else set()


def team_list_for_user(*, user: User) -> QuerySet[Team]:
    return Team.objects.filter(id__in=team_ids_for_user(user=user)).order_by("name")


def user_list_assignable(*, team_ids: set[int]) -> QuerySet[User]:
    """Staff who can be assigned a ticket of one of these teams: active members of the teams."""
    return (
        User.objects.filter(is_active=True, memberships__team_id__in=team_ids)
        .distinct()
        .order_by("username")
    )


def login_failures_key(*, ip_address: str) -> str:
    return f"login-failures:{rate_address_key(ip_address)}"


def login_address_lockout_seconds(*, ip_address: str) -> int | None:
    """Seconds until logins from this address are accepted again after too many failures across
    any usernames (password spraying); None while they are accepted."""
    failures = rate_window_get(
        key=login_failures_key(ip_address=ip_address),
        period=int(settings.LOGIN_IP_WINDOW.total_seconds()),
    )
    return failures.retry_after if failures.count >= settings.LOGIN_IP_FAILURE_LIMIT else None


def login_account_lockout_seconds(*, username: str | None, ip_address: str) -> int | None:
    """Seconds until this username may log in from this address again after its own failures
    (django-axes' lock per username and address); None when it is not locked."""
    recent = AccessAttempt.objects.filter(
        username=username,
        ip_address=ip_address,
        attempt_time__gte=timezone.now() - settings.AXES_COOLOFF_TIME,
    ).aggregate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
    if (recent["failures"] or 0) < settings.AXES_FAILURE_LIMIT:
        return None
    remaining: dt.timedelta = recent["last"] + settings.AXES_COOLOFF_TIME - timezone.now()
    return max(1, math.ceil(remaining.total_seconds()))
