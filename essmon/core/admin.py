from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django_tasks_db.models import DBTaskResult

from essmon.core.models import PeriodicJob, TaskRecord
from essmon.core.text import SafeTextAdmin

# What each scheduler job (core.scheduler.JOBS) does, in the operators' words.
JOB_DESCRIPTIONS = {
    "release-expired-registrations": "期限切れの仮登録の取り消しとゲートウェイの解放",
    "requeue-outbox": "送信待ちメールの再送",
    "detect-offline": "通信の途絶えたゲートウェイの検出",
    "expire-commands": "期限切れの遠隔設定の打ち切り",
    "sync-broker-credentials": "MQTTブローカーの認証情報の更新",
    "purge-throttles": "期限切れの失敗回数の記録の削除",
    "purge-dead-letters": "古い受信できなかったメッセージの削除",
    "clear-sessions": "期限切れのログインセッションの削除",
    "maintain-partitions": "計測データの月別パーティションの作成と削除",
    "rollup-energy": "電力量の集計",
    "evaluate-alerts": "異常の検知(通信途絶・機器の異常・蓄電池の高温)",
    "check-soc-stuck": "異常の検知(蓄電残量の変化なし)",
    "check-warranties": "延長保証の確認と警告メール",
}


@admin.register(PeriodicJob)
class PeriodicJobAdmin(SafeTextAdmin):
    list_display = [
        "name",
        "description",
        "next_run_at",
        "last_started_at",
        "last_finished_at",
        "last_error",
    ]

    @admin.display(description="内容")
    def description(self, job: PeriodicJob) -> str:
        return JOB_DESCRIPTIONS.get(job.name, "")


@admin.register(LogEntry)
class LogEntryAdmin(SafeTextAdmin):
    """Every change an operator makes in the admin, searchable (Django writes these)."""

    list_display = ["action_time", "user", "content_type", "object_repr", "action_flag"]
    list_filter = ["action_flag", "content_type"]
    search_fields = ["object_repr", "user__email", "change_message"]
    date_hierarchy = "action_time"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- django-tasks-db's rows, in Japanese (TaskRecord) ---------------------------------

TASK_STATUS = {"READY": "実行待ち", "RUNNING": "実行中", "FAILED": "失敗", "SUCCESSFUL": "完了"}
TASK_NAMES = {"deliver_outbox_message": "送信メールの配信"}

admin.site.unregister(DBTaskResult)


class TaskStatusFilter(admin.SimpleListFilter):
    title = "状態"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return list(TASK_STATUS.items())

    def queryset(self, request, queryset):
        return queryset.filter(status=self.value()) if self.value() else queryset


def _shown(name: str, description: str, ordering: str | None = None):
    """A read-only column or field showing ``name`` under a Japanese ``description``."""
    return admin.display(description=description, ordering=ordering)(
        lambda self, task: getattr(task, name) if getattr(task, name) not in (None, "") else "-"
    )


@admin.register(TaskRecord)
class TaskRecordAdmin(SafeTextAdmin):
    """Read-only, as the package's own admin: the worker writes these rows."""

    list_display = ["task", "state", "queued", "started", "finished", "attempt_worker"]
    list_filter = [TaskStatusFilter]
    ordering = ["-enqueued_at"]
    fields = readonly_fields = (
        "task",
        "state",
        "queued",
        "started",
        "finished",
        "due",
        "arguments",
        "attempt_worker",
        "error",
        "error_trace",
    )

    @admin.display(description="処理", ordering="task_path")
    def task(self, task: TaskRecord) -> str:
        return TASK_NAMES.get(task.task_name, task.task_name)

    @admin.display(description="状態", ordering="status")
    def state(self, task: TaskRecord) -> str:
        return TASK_STATUS.get(task.status, task.status)

    queued = _shown("enqueued_at", "登録日時", "enqueued_at")
    started = _shown("started_at", "開始日時", "started_at")
    finished = _shown("finished_at", "終了日時", "finished_at")
    due = _shown("run_after", "実行予定")
    arguments = _shown("args_kwargs", "引数")
    attempt_worker = _shown("worker_ids", "実行したワーカー")
    error = _shown("exception_class_path", "例外")
    error_trace = _shown("traceback", "トレースバック")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
