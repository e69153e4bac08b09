from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    """The owner's data rights (APPI arts. 33 and 35): the data export and 退会. It sits
    above every other app, since it reads and removes what each of them keeps."""

    name = "essmon.privacy"
    label = "privacy"
    verbose_name = "個人データの開示・退会"
