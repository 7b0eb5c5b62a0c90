"""The routes of CONTRACT.md on drf-restflow's views and authenticators."""
from django.contrib.auth import aauthenticate, alogin, alogout
from django.middleware.csrf import get_token
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny, IsAdminUser, IsAuthenticated, IsAuthenticatedOrReadOnly
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTAuthentication as StockSimpleJwt
from restflow.authentication import (
    BasicAuthentication,
    JWTAuthentication,
    RemoteUserAuthentication,
    SessionAuthentication,
    TokenAuthentication,
)
from restflow.views import AsyncAPIView


class RemoteUser(RemoteUserAuthentication):
    header = "HTTP_" + "X-Remote-User".upper().replace("-", "_")


def whoami(request):
    user = request.user
    if user and user.is_authenticated:
        return Response({"id": user.id, "username": user.username})
    return Response({"id": None, "username": ""})


class Whoami(AsyncAPIView):
    permission_classes = (IsAuthenticated,)

    async def get(self, request):
        return whoami(request)

    async def post(self, request):
        return whoami(request)


class WhoamiJwt(Whoami):
    authentication_classes = (JWTAuthentication,)


class WhoamiBasic(Whoami):
    authentication_classes = (BasicAuthentication,)


class WhoamiToken(Whoami):
    authentication_classes = (TokenAuthentication,)


class WhoamiSession(Whoami):
    authentication_classes = (SessionAuthentication,)


class WhoamiRemote(Whoami):
    authentication_classes = (RemoteUser,)


class WhoamiSimpleJwt(APIView):
    """Stock simplejwt in a sync view: what DRF-BEHAVIOUR.md rule 5 holds us to."""

    authentication_classes = (StockSimpleJwt,)
    permission_classes = (IsAuthenticated,)

    def get(self, request):
        return whoami(request)

    def post(self, request):
        return whoami(request)


class WhoamiJwtSession(Whoami):
    authentication_classes = (JWTAuthentication, SessionAuthentication)


class WhoamiSessionJwt(Whoami):
    authentication_classes = (SessionAuthentication, JWTAuthentication)


class WhoamiDefault(AsyncAPIView):
    """The project defaults (REST_FRAMEWORK in settings.py)."""

    async def get(self, request):
        return whoami(request)

    async def post(self, request):
        return whoami(request)


class WhoamiAdmin(Whoami):
    authentication_classes = (BasicAuthentication, JWTAuthentication)
    permission_classes = (IsAdminUser,)


class WhoamiOpen(Whoami):
    authentication_classes = (JWTAuthentication, SessionAuthentication)
    permission_classes = (AllowAny,)


class WhoamiReadonly(Whoami):
    authentication_classes = (JWTAuthentication,)
    permission_classes = (IsAuthenticatedOrReadOnly,)


class WhoamiThrottled(AsyncAPIView):
    authentication_classes = (JWTAuthentication,)
    permission_classes = (AllowAny,)
    throttle_classes = (AnonRateThrottle, UserRateThrottle)

    async def get(self, request):
        return whoami(request)


class Credentials(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField()


class SessionLogin(AsyncAPIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    async def post(self, request):
        ser = Credentials(data=request.data)
        ser.is_valid(raise_exception=True)
        user = await aauthenticate(
            request._request,
            username=ser.validated_data["username"],
            password=ser.validated_data["password"],
        )
        if user is None or not user.is_active:
            raise exceptions.AuthenticationFailed("Invalid username/password.")
        await alogin(request._request, user)
        return Response({"id": user.id, "username": user.username})


class SessionLogout(AsyncAPIView):
    authentication_classes = (SessionAuthentication,)
    permission_classes = (AllowAny,)

    async def post(self, request):
        await alogout(request._request)
        return Response(status=204)


class Csrf(AsyncAPIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    async def get(self, request):
        return Response({"csrftoken": get_token(request._request)})
