"""Admin pages for people: users and roles, invitations, alert settings; the first-run checklist's
"mappings reviewed"."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import timezone
from django.views.decorators.http import require_POST

from sync import alerts, selectors_dashboard, services, users
from sync.forms_users import AlertWebhookForm, UserInviteForm
from sync.models import AlertCause, AlertSettings, AlertSubscription
from sync.views import admin_required


@admin_required
def users_list(request, form: UserInviteForm | None = None):
    return render(request, "sync/users.html", {
        "people": get_user_model().objects.order_by("-is_active", "username"),
        "form": form or UserInviteForm(),
        "invitation": request.session.pop("invitation", None),
        "roles": users.ROLES,
    })


@require_POST
@admin_required
def user_invite(request):
    form = UserInviteForm(request.POST)
    if not form.is_valid():
        return users_list(request, form=form)
    user, link = users.user_invite(**form.cleaned_data, invited_by=request.user, base_url=request.build_absolute_uri("/"))
    # Shown once, to the admin who made it, so it can be handed over when there is no e-mail.
    request.session["invitation"] = {"username": user.username, "link": link, "emailed": bool(user.email)}
    messages.success(request, f"{user.username} invited as {users.user_role(user)}.")
    return redirect("sync:users")


@require_POST
@admin_required
def user_update(request, user_id: int):
    role = request.POST.get("role")
    active = {"deactivate": False, "activate": True}.get(request.POST.get("action", ""))
    if role not in (None, users.ADMIN, users.VIEWER):
        messages.error(request, "Choose a role: admin or viewer.")
        return redirect("sync:users")
    try:
        user = users.user_update(user_id=user_id, role=role, active=active, by=request.user)
    except users.UserChangeRefused as refusal:
        messages.error(request, str(refusal))
    except get_user_model().DoesNotExist:
        messages.error(request, "That user no longer exists.")
    else:
        messages.success(request, f"{user.username}: {users.user_role(user)}, {'active' if user.is_active else 'deactivated'}.")
    return redirect("sync:users")


class InvitationView(auth_views.PasswordResetConfirmView):
    """The invited user chooses a password (once: the token dies with the password change)."""

    template_name = "registration/invitation.html"
    success_url = reverse_lazy("login")
    post_reset_login = False

    def form_valid(self, form):
        messages.success(self.request, "Password set: log in with it.")
        return super().form_valid(form)


@admin_required
def alert_settings(request):
    admins = get_user_model().objects.filter(is_staff=True, is_active=True).order_by("username")
    config = AlertSettings.load()
    if request.method == "POST":
        form = AlertWebhookForm(request.POST)
        if form.is_valid():
            alerts.alert_settings_save(
                subscriptions={admin.pk: [c for c in request.POST.getlist(f"causes-{admin.pk}") if c in AlertCause.values]
                               for admin in admins},
                **form.cleaned_data,
            )
            messages.success(request, "Alert settings saved.")
            return redirect("sync:alert_settings")
    else:
        form = AlertWebhookForm(initial={"webhook_url": config.webhook_url, "webhook_causes": config.webhook_causes})
    subscribed = set(AlertSubscription.objects.values_list("user_id", "cause"))
    return render(request, "sync/alert_settings.html", {
        "form": form,
        "causes": AlertCause.choices,
        "rows": [{"admin": admin, "causes": [(value, label, (admin.pk, value) in subscribed) for value, label in AlertCause.choices]}
                 for admin in admins],
        "signed": bool(alerts.webhook_signature(body=b"")),
        "recent": selectors_dashboard.alerts_recent(),
    })


@require_POST
@admin_required
def checklist_mappings_reviewed(request):
    services.sync_state_set(key=selectors_dashboard.MAPPINGS_REVIEWED_KEY, value=timezone.now().isoformat())
    return redirect("sync:dashboard")
