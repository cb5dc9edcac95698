from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from sync.webhooks import hubspot_webhook

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("rq/", include("django_rq.urls")),
    path("webhooks/hubspot/", hubspot_webhook, name="hubspot_webhook"),
    path("", include("sync.urls")),
]
