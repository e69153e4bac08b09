import os

from django.core.wsgi import get_wsgi_application

from essmon.core.heap import settle_after_startup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "essmon.settings")
application = get_wsgi_application()
settle_after_startup()  # after Django's start-up: its objects live as long as the process
