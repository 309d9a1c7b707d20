from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower


class Role(models.TextChoices):
    """Roles are Django groups of these names; a user's role is the highest group they hold."""

    AGENT = "agent", "Agent"
    SUPERVISOR = "supervisor", "Supervisor"
    ADMIN = "admin", "Admin"
    # A shop's own systems, not a person: API only. Opens tickets and posts messages as the
    # customer, and keeps customers' value fields (spend, orders, segment) in step with the shop.
    INTEGRATION = "integration", "Shop integration"


class User(AbstractUser):
    """A member of staff. Customers are not users: they live in tickets.Customer."""

    # The largest recovery amount this person may approve; empty = their role's default
    # (RECOVERY_APPROVAL_LIMITS).
    approval_limit = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)

    class Meta:
        ordering = ["username"]

    def has_role(self, role: Role) -> bool:
        # Cached per instance: permission checks call this on every row of a page.
        roles = self.__dict__.get("_role_names")
        if roles is None:
            roles = set(self.groups.values_list("name", flat=True))
            self.__dict__["_role_names"] = roles
        return self.is_superuser or role.value in roles

    @property
    def is_admin_role(self) -> bool:
        return self.has_role(Role.ADMIN)

    @property
    def is_supervisor_role(self) -> bool:
        return self.has_role(Role.SUPERVISOR) or self.is_admin_role

    @property
    def is_integration(self) -> bool:
        return self.has_role(Role.INTEGRATION)

    @property
    def role(self) -> Role | None:
        """The staff role (integration accounts hold none: they are not staff)."""
        for role in (Role.ADMIN, Role.SUPERVISOR, Role.AGENT):
            if self.has_role(role):
                return role
        return None


class Team(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    # The intent label set this team's tickets are read with (a key such as "social", or the
    # team's own); blank: the set the ticket's channel maps to, else "default". A setting of the
    # team rather than of its name, so teams can be split or renamed without losing it.
    intent_label_set = models.SlugField(
        max_length=40,
        blank=True,
        default="",
        help_text="Intent label set for this team's tickets; blank: chosen by the ticket's "
        "channel (COPILOT_INTENT_LABEL_SET_BY_CHANNEL), else 'default'.",
    )
    members: "models.ManyToManyField[User, TeamMembership]" = models.ManyToManyField(
        User, through="TeamMembership", related_name="teams"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), name="team_name_unique_ci"),
        ]

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="team_membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"
