from django.db import models


class Throttle(models.Model):
    """A fixed-window failure counter (e.g. wrong gateway passwords per gateway ID per hour)."""

    key = models.CharField(max_length=200, unique=True)
    window_start = models.DateTimeField()
    hits = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "失敗回数の記録"
        verbose_name_plural = "失敗回数の記録"

    def __str__(self) -> str:
        return f"{self.key}: {self.hits}"


class PeriodicJob(models.Model):
    """One row per scheduled job; a process runs a job only after winning its ``next_run_at``."""

    name = models.CharField(max_length=100, unique=True)
    next_run_at = models.DateTimeField()
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        verbose_name = "定期ジョブ"
        verbose_name_plural = "定期ジョブ"

    def __str__(self) -> str:
        return self.name
