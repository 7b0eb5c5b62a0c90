from django.urls import path
from restflow.authentication.views import TokenBlacklistView, TokenObtainView, TokenRefreshView

from reference import views

urlpatterns = [
    path("api/auth/token/", TokenObtainView.as_view()),
    path("api/auth/token/refresh/", TokenRefreshView.as_view()),
    path("api/auth/token/blacklist/", TokenBlacklistView.as_view()),
    path("api/auth/session/login/", views.SessionLogin.as_view()),
    path("api/auth/session/logout/", views.SessionLogout.as_view()),
    path("api/csrf/", views.Csrf.as_view()),
    path("api/whoami/jwt/", views.WhoamiJwt.as_view()),
    path("api/whoami/basic/", views.WhoamiBasic.as_view()),
    path("api/whoami/token/", views.WhoamiToken.as_view()),
    path("api/whoami/session/", views.WhoamiSession.as_view()),
    path("api/whoami/remote/", views.WhoamiRemote.as_view()),
    path("api/whoami/simplejwt/", views.WhoamiSimpleJwt.as_view()),
    path("api/whoami/jwt-session/", views.WhoamiJwtSession.as_view()),
    path("api/whoami/session-jwt/", views.WhoamiSessionJwt.as_view()),
    path("api/whoami/default/", views.WhoamiDefault.as_view()),
    path("api/whoami/admin/", views.WhoamiAdmin.as_view()),
    path("api/whoami/open/", views.WhoamiOpen.as_view()),
    path("api/whoami/readonly/", views.WhoamiReadonly.as_view()),
    path("api/whoami/throttled/", views.WhoamiThrottled.as_view()),
]
