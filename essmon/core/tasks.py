"""Enqueueing the outboxes' delivery tasks (the mails', the webhooks')."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django_tasks.base import Task


def enqueue(task: Task[Any, Any], *args: Any, run_after: datetime | None = None) -> None:
    """Enqueue ``task``, deferred to ``run_after`` when given. A backend that cannot defer
    gets nothing: the outbox's requeue job enqueues the row when it is due."""
    if run_after is not None:
        if not task.get_backend().supports_defer:
            return
        task = task.using(run_after=run_after)
    task.enqueue(*args)
