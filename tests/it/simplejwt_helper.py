"""Mints tokens with the real djangorestframework-simplejwt for the
interop tests. argv[1] is the signing key. One JSON request per stdin line
({"kind": "access"|"refresh"|"sliding", "user_id": ..., "exp_delta": s,
"drop": [claims]}), one token per stdout line. Only the tests call this."""
import datetime
import json
import sys

import django
from django.conf import settings

settings.configure(
    SECRET_KEY="unused-" + "x" * 40,
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes"],
    SIMPLE_JWT={"SIGNING_KEY": sys.argv[1], "ALGORITHM": "HS256"},
    USE_TZ=True,
)
django.setup()

from rest_framework_simplejwt.tokens import AccessToken, RefreshToken, SlidingToken  # noqa: E402

KINDS = {"access": AccessToken, "refresh": RefreshToken, "sliding": SlidingToken}

for line in sys.stdin:
    req = json.loads(line)
    token = KINDS[req["kind"]]()
    if req.get("user_id") is not None:
        token["user_id"] = req["user_id"]
    if req.get("exp_delta") is not None:
        token.set_exp(lifetime=datetime.timedelta(seconds=req["exp_delta"]))
    for claim in req.get("drop", []):
        del token.payload[claim]
    print(str(token))
    sys.stdout.flush()
