import itertools
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from accounts.models import Role, Team, TeamMembership, User
from accounts.selectors import login_failures_key
from core.ratelimit import WindowCount, rate_window_hit

# Admins manage people, teams, customers and consent through the Django admin.
ADMIN_APPS = ("accounts", "tickets", "copilot", "recovery", "authtoken", "axes")


def roles_ensure() -> dict[Role, Group]:
    """The three role groups exist, and the admin group may manage the product's data.

    Idempotent. Permissions only exist after migrate, so this runs when users are created rather
    than in a migration.
    """
    groups = {role: Group.objects.get_or_create(name=role.value)[0] for role in Role}
    groups[Role.ADMIN].permissions.set(
        Permission.objects.filter(content_type__app_label__in=ADMIN_APPS)
    )
    return groups


TEAM_SLUG_MAX: int = Team._meta.get_field("slug").max_length or 100


def team_get_or_create(*, name: str) -> Team:
    """The team of this name (names are unique whatever their case), created when new.

    A team is found by its name, never by its slug: distinct names can share a slug ("Orders"
    and "Orders!"), and a name of symbols or of letters slugify drops ("???", "Поддержка")
    has none at all, so looking teams up by slug merged them silently. A new team gets the
    name's slug, or "team" for an empty one, numbered ("-2", "-3"...) when another team holds it.
    """
    team = Team.objects.filter(name__iexact=name).first()
    if team is not None:
        return team
    base = slugify(name) or "team"
    for number in itertools.count(1):
        suffix = "" if number == 1 else f"-{number}"
        slug = base[: TEAM_SLUG_MAX - len(suffix)] + suffix
        if Team.objects.filter(slug=slug).exists():
            continue
        try:
            with transaction.atomic():
                return Team.objects.create(name=name, slug=slug)
        except IntegrityError:
            # Someone else created this name, or took this slug, since we looked.
            team = Team.objects.filter(name__iexact=name).first()
            if team is not None:
                return team
    raise AssertionError("unreachable")  # pragma: no cover


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str,
    role: Role,
    teams: Iterable[Team] = (),
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    password_hash: str = "",
) -> User:
    """A user with this role and these teams. `password_hash`, when given, is stored instead of
    hashing `password` (the demo's users share one password: hashing it costs 0.4 s each)."""
    groups = roles_ensure()
    user = User.objects.create_user(
        username=username,
        password=None if password_hash else password,
        email=email,
        first_name=first_name,
        last_name=last_name,
        # Admins reach the Django admin to manage users, teams and consent.
        is_staff=role == Role.ADMIN,
    )
    if password_hash:
        user.password = password_hash
        user.save(update_fields=["password"])
    user.groups.add(groups[role])
    for team in teams:
        TeamMembership.objects.get_or_create(team=team, user=user)
    return user


def login_failure_record(*, ip_address: str) -> WindowCount:
    """Count a failed login from this address, whatever the username, in the current window.

    A successful login does not reset it: an attacker holding one account could otherwise clear
    the count between rounds of guesses at the others."""
    return rate_window_hit(
        key=login_failures_key(ip_address=ip_address),
        period=int(settings.LOGIN_IP_WINDOW.total_seconds()),
    )
