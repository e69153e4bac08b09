from django_tasks import task

from essmon.webhooks.services import deliver


@task()
def deliver_webhook(delivery_id: int) -> str:
    return deliver(delivery_id=delivery_id)
