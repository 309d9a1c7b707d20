from django.db.models import QuerySet

from accounts.models import Role, Team, User


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


def team_list_for_user(*, user: User) -> QuerySet[Team]:
    return Team.objects.filter(id__in=team_ids_for_user(user=user)).order_by("name")


def user_list_assignable(*, team_ids: set[int]) -> QuerySet[User]:
    """Staff who can be assigned a ticket of one of these teams: active members of the teams."""
    return (
        User.objects.filter(is_active=True, memberships__team_id__in=team_ids)
        .distinct()
        .order_by("username")
    )
