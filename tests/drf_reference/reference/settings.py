"""Django settings of the reference: drf-restflow 2.0.1 configured from
fixtures.json, as CONTRACT.md describes the server."""
import json
import os
from datetime import timedelta

FIXTURES = json.load(open(os.environ["REFERENCE_FIXTURES"]))
JWT = FIXTURES["jwt"]
SJWT = FIXTURES["simplejwt"]

SECRET_KEY = "reference-django-secret-key-not-used-for-tokens-0123456789"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "reference.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "rest_framework",
    "rest_framework.authtoken",
    "restflow.authentication",
    "reference",
]

# startproject's middleware (messages, clickjacking and security headers are
# not part of what is compared).
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["REFERENCE_DB"],
    }
}

# Passwords are only compared, so the fastest of Django's hashers will do.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "django.contrib.auth.backends.RemoteUserBackend",
]

SESSION_COOKIE_NAME = FIXTURES["session"]["cookie_name"]
CSRF_COOKIE_NAME = FIXTURES["session"]["csrf_cookie_name"]
CSRF_HEADER_NAME = "HTTP_" + FIXTURES["session"]["csrf_header_name"].upper().replace("-", "_")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "restflow.authentication.JWTAuthentication",
        "restflow.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_RATES": {"anon": "3/min", "user": "5/min"},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

RESTFLOW_SETTINGS = {
    "JWT": {
        "SIGNING_KEY": JWT["signing_key"],
        "ALGORITHM": JWT["algorithm"],
        "ACCESS_TOKEN_LIFETIME": timedelta(seconds=JWT["access_token_lifetime_s"]),
        "REFRESH_TOKEN_LIFETIME": timedelta(seconds=JWT["refresh_token_lifetime_s"]),
        "ROTATE_REFRESH_TOKENS": JWT["rotate_refresh_tokens"],
        "BLACKLIST_ENABLED": JWT["blacklist_enabled"],
        "BLACKLIST_BACKEND": "restflow.authentication.ModelBlacklistBackend",
        "USER_ID_CLAIM": JWT["user_id_claim"],
        "AUTH_HEADER_TYPES": tuple(JWT["auth_header_types"]),
        "LEEWAY": JWT["leeway_s"],
    }
}

SIMPLE_JWT = {
    "SIGNING_KEY": SJWT["signing_key"],
    "ALGORITHM": SJWT["algorithm"],
    "USER_ID_CLAIM": SJWT["user_id_claim"],
    "AUTH_HEADER_TYPES": tuple(SJWT["auth_header_types"]),
}

LOGGING = {"version": 1, "disable_existing_loggers": True}
