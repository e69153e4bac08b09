from django.contrib.auth.backends import ModelBackend

from essmon.accounts.models import User


class EmailBackend(ModelBackend):
    """Log in by mail address, matched exactly as typed (the seed: IDs are case-sensitive)."""

    def authenticate(self, request, username=None, password=None, email=None, **kwargs):
        email = email or username
        if not email or password is None:
            return None
        user = User.objects.filter(email=email).first()
        if user is None:
            User().set_password(password)  # same cost as a real check
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
