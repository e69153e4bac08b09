from django.db import models
from django_tasks_db.models import DBTaskResult


class Throttle(models.Model):
    """A fixed-window failure counter (e.g. wrong gateway passwords per gateway ID per hour)."""

    key = models.CharField("キー", max_length=200, unique=True)
    window_start = models.DateTimeField("集計の開始日時")
    hits = models.PositiveIntegerField("回数", default=0)

    class Meta:
        verbose_name = "失敗回数の記録"
        verbose_name_plural = "失敗回数の記録"

    def __str__(self) -> str:
        return f"{self.key}: {self.hits}"


class PeriodicJob(models.Model):
    """One row per scheduled job; a process runs a job only after winning its ``next_run_at``."""

    name = models.CharField("ジョブ名", max_length=100, unique=True)
    next_run_at = models.DateTimeField("次回の実行予定")
    last_started_at = models.DateTimeField("前回の開始日時", null=True, blank=True)
    last_finished_at = models.DateTimeField("前回の終了日時", null=True, blank=True)
    last_error = models.TextField("直近のエラー", blank=True)

    class Meta:
        verbose_name = "定期ジョブ"
        verbose_name_plural = "定期ジョブ"

    def __str__(self) -> str:
        return self.name


class TaskRecord(DBTaskResult):
    """django-tasks-db's task rows (mail deliveries), shown in the admin in Japanese: the
    package names them in English and ships no Japanese, and its own model's options are
    not ours to change (a migration of a third-party app)."""

    class Meta:
        proxy = True
        verbose_name = "バックグラウンド処理"
        verbose_name_plural = "バックグラウンド処理"
