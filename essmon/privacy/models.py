"""What the data rights need to remember beyond the other apps' records."""

from django.db import models
from django.utils import timezone

from essmon.gateways.models import Gateway


class ReleasedGateway(models.Model):
    """A gateway released by its owner's 退会 and not registered again yet. A device left
    powered keeps sending; nothing it sends while it has no owner is kept (the
    ``forget-released-gateways`` job), so the next owner never sees the home of the last
    one. The row goes once the gateway is registered again."""

    gateway = models.OneToOneField(
        Gateway, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    released_at = models.DateTimeField("登録解除日時", default=timezone.now)

    class Meta:
        verbose_name = "退会により登録解除したゲートウェイ"
        verbose_name_plural = "退会により登録解除したゲートウェイ"

    def __str__(self) -> str:
        return f"{self.gateway_id} ({self.released_at:%Y-%m-%d})"
