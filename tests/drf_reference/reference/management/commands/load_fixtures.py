from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Loads the users and tokens of fixtures.json (tables emptied first)."

    def handle(self, *args, **options):
        Token.objects.all().delete()
        User.objects.all().delete()
        for u in settings.FIXTURES["users"]:
            user = User(
                id=u["id"],
                username=u["username"],
                is_active=u["is_active"],
                is_staff=u["is_staff"],
                is_superuser=u["is_superuser"],
            )
            user.set_password(u["password"])
            user.save()
        for t in settings.FIXTURES["tokens"]:
            Token.objects.create(key=t["key"], user_id=t["user_id"])
