#!/usr/bin/env python
"""The drf-restflow reference server of ../../shared/conformance/CONTRACT.md.

    REFERENCE_FIXTURES=PATH REFERENCE_DB=PATH python manage.py migrate
    REFERENCE_FIXTURES=PATH REFERENCE_DB=PATH python manage.py load_fixtures
    REFERENCE_FIXTURES=PATH REFERENCE_DB=PATH python manage.py runserver 127.0.0.1:PORT --noreload

The differential test (tests/it/differential.rs) runs these against the
conformance example and compares the two.
"""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reference.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
