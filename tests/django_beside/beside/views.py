import json

from django.contrib.auth import authenticate, get_user_model, login, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.hashers import check_password, get_hasher, identify_hasher, make_password
from django.contrib.sessions.models import Session
from django.http import JsonResponse
from django.middleware.csrf import get_token
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from rest_framework.authtoken.models import Token
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.tokens import RefreshToken

User = get_user_model()


@require_GET
def csrf(request):
    return JsonResponse({"csrftoken": get_token(request)})


@require_POST
def login_view(request):
    user = authenticate(
        request,
        username=request.POST.get("username"),
        password=request.POST.get("password"),
    )
    if user is None:
        return JsonResponse({"detail": "invalid credentials"}, status=400)
    login(request, user)
    return JsonResponse({"username": user.username})


@require_POST
def logout_view(request):
    logout(request)
    return JsonResponse({"ok": True})


@login_required
def whoami(request):
    return JsonResponse({"username": request.user.username})


@login_required
@require_POST
def change_password(request):
    # Without update_session_auth_hash: every session of the user ends.
    request.user.set_password(request.POST["password"])
    request.user.save()
    return JsonResponse({"ok": True})


class DrfWhoami(APIView):
    def get(self, request):
        return Response(
            {
                "username": request.user.username,
                "scheme": type(request.successful_authenticator).__name__,
            }
        )

    def post(self, request):
        return self.get(request)


def body(request):
    return json.loads(request.body or b"{}")


@csrf_exempt
@require_POST
def t_user(request):
    b = body(request)
    User.objects.filter(username=b["username"]).delete()
    u = User(
        username=b["username"],
        is_active=b.get("is_active", True),
        is_staff=b.get("is_staff", False),
    )
    if "raw" in b:
        u.password = b["raw"]
    elif b.get("password") is None:
        u.set_unusable_password()
    else:
        u.password = make_password(b["password"], hasher=b.get("hasher", "default"))
    u.save()
    return JsonResponse({"id": u.pk, "password": u.password})


@csrf_exempt
@require_POST
def t_check(request):
    """Django's check_password on the stored hash (no upgrade on success)."""
    b = body(request)
    u = User.objects.get(username=b["username"])
    try:
        algorithm = identify_hasher(u.password).algorithm
        must_update = get_hasher("default").algorithm != algorithm or identify_hasher(
            u.password
        ).must_update(u.password)
    except ValueError:
        algorithm, must_update = None, None
    return JsonResponse(
        {
            "valid": check_password(b["password"], u.password),
            "password": u.password,
            "algorithm": algorithm,
            "must_update": must_update,
        }
    )


@csrf_exempt
@require_POST
def t_set(request):
    b = body(request)
    u = User.objects.get(username=b["username"])
    u.set_password(b["password"])
    u.save()
    return JsonResponse({"password": u.password})


@csrf_exempt
@require_POST
def t_active(request):
    b = body(request)
    User.objects.filter(username=b["username"]).update(is_active=b["is_active"])
    return JsonResponse({"ok": True})


@csrf_exempt
@require_POST
def t_token(request):
    b = body(request)
    token, created = Token.objects.get_or_create(user=User.objects.get(username=b["username"]))
    return JsonResponse({"key": token.key, "created": created})


@csrf_exempt
@require_POST
def t_jwt(request):
    b = body(request)
    refresh = RefreshToken.for_user(User.objects.get(username=b["username"]))
    return JsonResponse({"refresh": str(refresh), "access": str(refresh.access_token)})


@csrf_exempt
@require_GET
def t_sessions(request):
    """The sessions in django_session and the user each names."""
    out = []
    for s in Session.objects.all():
        data = s.get_decoded()
        out.append({"key": s.session_key, "user_id": data.get("_auth_user_id"), "data": data})
    return JsonResponse({"sessions": out})


@csrf_exempt
@require_POST
def t_logout_everywhere(request):
    """The usual simplejwt "log out everywhere": blacklist every outstanding
    token of the user."""
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    b = body(request)
    tokens = OutstandingToken.objects.filter(user__username=b["username"])
    for t in tokens:
        BlacklistedToken.objects.get_or_create(token=t)
    return JsonResponse({"blacklisted": tokens.count()})
