from django_tasks import task

from essmon.notifications.services import deliver_message


@task()
def deliver_outbox_message(message_id: int) -> str:
    return deliver_message(message_id=message_id)
