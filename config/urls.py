from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.decorators import role_required
from accounts.models import Role
from core import health
from desk import health as desk_health

urlpatterns = [
    path("health/", health.live, name="health-live"),
    path("health/ready/", health.ready, name="health-ready"),
    path("health/copilot/", desk_health.copilot, name="health-copilot"),
    path("", include("desk.urls")),
    path("supervision/", include("recovery.supervisor_urls")),
    path("privacy/", include("privacy.urls")),
    path("privacy/exports/", include("privacy.export_urls")),
    path("replies/", include("copilot.urls")),
    path("login/", login_not_required(auth_views.LoginView.as_view()), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    # Browsers ask for /favicon.ico whatever the page declares.
    path(
        "favicon.ico",
        login_not_required(RedirectView.as_view(url=f"{settings.STATIC_URL}favicon.svg")),
    ),
    path("api/", include("config.api_urls")),
    # DRF authenticates the schema itself (token or session), so API clients get a 401, not a
    # redirect; the docs page is for people, so it sends them to the login page instead.
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves the page's start-up script as a file (the same URL with ?script), and
    # the template has no inline style: the site's CSP allows neither inline script nor style,
    # and the inline ones of SpectacularSwaggerView left a blank page.
    path(
        "api/docs/",
        role_required(Role.AGENT)(
            SpectacularSwaggerSplitView.as_view(
                url_name="schema", template_name="api/swagger_ui.html"
            )
        ),
        name="swagger-ui",
    ),
]

# A database that is away answers 503 (retry shortly), not 500.
handler500 = "core.views.server_error"
