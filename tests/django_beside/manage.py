#!/usr/bin/env python
"""A small Django 5.2 project (DRF, authtoken, simplejwt with its
token_blacklist app) that the Rust service of tests/it/beside_django.rs runs
beside, on one database.

    BESIDE_DATABASE=sqlite:PATH|postgres:URL?schema BESIDE_SECRET_KEY=... \
    BESIDE_JWT_KEY=... [BESIDE_SESSION_ENGINE=db|signed_cookies] \
        python manage.py migrate
    ... python manage.py runserver 127.0.0.1:PORT --noreload
"""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "beside.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
