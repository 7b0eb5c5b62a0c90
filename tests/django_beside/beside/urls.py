from django.urls import path
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework_simplejwt.views import TokenBlacklistView, TokenObtainPairView, TokenRefreshView

from . import views

urlpatterns = [
    # What the Django service serves.
    path("django/csrf/", views.csrf),
    path("django/login/", views.login_view),
    path("django/logout/", views.logout_view),
    path("django/whoami/", views.whoami),
    path("django/password/", views.change_password),
    path("django/drf/whoami/", views.DrfWhoami.as_view()),
    path("django/api-token-auth/", obtain_auth_token),
    path("django/token/", TokenObtainPairView.as_view()),
    path("django/token/refresh/", TokenRefreshView.as_view()),
    path("django/token/blacklist/", TokenBlacklistView.as_view()),
    # The test's hands on the Django side (what an admin or a shell does).
    path("t/user/", views.t_user),
    path("t/check/", views.t_check),
    path("t/set/", views.t_set),
    path("t/active/", views.t_active),
    path("t/token/", views.t_token),
    path("t/jwt/", views.t_jwt),
    path("t/sessions/", views.t_sessions),
    path("t/logout_everywhere/", views.t_logout_everywhere),
]
