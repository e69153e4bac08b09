"""見守り: an owner invites a family member to watch one site, the invitee accepts, the
owner (or the viewer, leaving) ends it. Who may see what is dealers.access's; this module
writes the records it reads."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from essmon.accounts import selectors
from essmon.accounts.models import AccountToken, TermsAcceptance, User
from essmon.accounts.services.errors import LINK_INVALID
from essmon.accounts.services.terms import record_terms_acceptance
from essmon.accounts.tokens import issue_token
from essmon.core import throttle
from essmon.dealers.models import MAX_VIEWERS_PER_GATEWAY, SiteViewer
from essmon.dealers.services.errors import DealerError
from essmon.gateways.models import Gateway
from essmon.notifications.services import allow_mail_to_typed_address, queue_mail

INVITATION_LIFETIME = timedelta(days=7)
# an owner's own allowance on top of every typed address's limits: a family is small
INVITATIONS_PER_OWNER_PER_DAY = 10

# Told to whoever opens the link (the address's holder), never to the inviting owner, so
# an invitation tells the owner nothing about which addresses have an account.
ADDRESS_NOT_FOR_VIEWING = (
    "このメールアドレスは、お客様・販売店様などのアカウントですでに使われているため、"
    "見守り用のアカウントには使えません。招待してくださった方に、別のメールアドレスで"
    "招待し直すようご依頼ください。"
)


def invite_viewer(*, owner: User, gateway: Gateway, email: str, client_address: str) -> SiteViewer:
    """Mail ``email`` a single-use link to watch ``gateway`` (the caller got it through
    dealers.access with Purpose.MANAGE_VIEWERS). The same mail goes out whoever holds the
    address; an address already used by another kind of account is refused at the link."""
    email = email.strip()
    if email.lower() == owner.email.lower():
        raise DealerError("ご自身のメールアドレスは招待できません。", field="email")
    with transaction.atomic():
        Gateway.objects.select_for_update().get(pk=gateway.pk)
        rows = list(
            SiteViewer.objects.filter(gateway=gateway, invited_by=owner, revoked_at__isnull=True)
            .select_related("token")
            .order_by("pk")
        )
        open_rows = [row for row in rows if row.is_open]
        if any(row.email.lower() == email.lower() for row in open_rows):
            raise DealerError(
                "このメールアドレスはすでに招待しています(または見守り中です)。", field="email"
            )
        if len(open_rows) >= MAX_VIEWERS_PER_GATEWAY:
            raise DealerError(
                f"見守りは1つのシステムにつき{MAX_VIEWERS_PER_GATEWAY}名まで招待できます。"
                "不要な見守りを解除してから招待してください。"
            )
        allow_mail_to_typed_address(
            recipient=email,
            client_address=client_address,
            account_id=owner.pk,
            more=[
                throttle.Allowance(
                    f"viewer-invite:{owner.pk}", INVITATIONS_PER_OWNER_PER_DAY, timedelta(days=1)
                )
            ],
        )
        raw, token = issue_token(
            user=owner,
            purpose=AccountToken.Purpose.VIEWER_INVITATION,
            lifetime=INVITATION_LIFETIME,
            new_email=email,
        )
        viewer = SiteViewer.objects.create(
            gateway=gateway, invited_by=owner, email=email, token=token
        )
        queue_mail(
            recipient=email,
            kind="viewer_invitation",
            context={"token": raw, "expires_at": token.expires_at},
        )
    return viewer


def invitation_for(token: AccountToken | None) -> SiteViewer:
    """The pending invitation a link stands for, or DealerError(LINK_INVALID)."""
    if (
        token is None
        or token.purpose != AccountToken.Purpose.VIEWER_INVITATION
        or not token.is_usable()
    ):
        raise DealerError(LINK_INVALID)
    invitation = (
        SiteViewer.objects.select_related("gateway", "invited_by")
        .filter(token=token, revoked_at__isnull=True, accepted_at__isnull=True)
        .first()
    )
    if invitation is None:
        raise DealerError(LINK_INVALID)
    return invitation


def existing_viewer(invitation: SiteViewer) -> User | None:
    """The viewer account the invited address already has; DealerError when the address
    belongs to any other kind of account (told to the address's holder only)."""
    account = selectors.email_taken(invitation.email)
    if account is not None and account.role != User.Role.VIEWER:
        raise DealerError(ADDRESS_NOT_FOR_VIEWING)
    return account


def accept_invitation(
    *,
    token: AccountToken | None,
    name: str = "",
    password: str = "",
    client_address: str | None = None,
) -> User:
    """Open the link: a new viewer account is created with ``name`` and ``password`` (the
    caller validated them, and the person agreed to the customers' terms in force, which
    are recorded), or the address's viewer account accepts. Single use."""
    with transaction.atomic():
        if token is not None:
            token = AccountToken.objects.select_for_update().filter(pk=token.pk).first()
        invitation = invitation_for(token)
        assert token is not None
        viewer = existing_viewer(invitation)
        now = timezone.now()
        if viewer is None:
            if not name or not password:
                raise DealerError("お名前とパスワードを入力してください。")
            viewer = User.objects.create_user(
                invitation.email,
                password,
                name=name,
                role=User.Role.VIEWER,
                is_active=True,
                activated_at=now,
            )
            record_terms_acceptance(
                user=viewer,
                terms=selectors.current_terms(),
                context=TermsAcceptance.Context.REGISTRATION,
                client_address=client_address,
            )
        SiteViewer.objects.filter(pk=invitation.pk).update(viewer=viewer, accepted_at=now)
        AccountToken.objects.filter(pk=token.pk).update(used_at=now)
        owner = invitation.invited_by
        if owner is not None:
            queue_mail(
                recipient=owner.email,
                kind="viewer_accepted",
                context={"user": owner, "email": invitation.email, "gateway": invitation.gateway},
            )
    return viewer


def revoke_viewer(*, owner: User, viewer_id: int) -> SiteViewer:
    """End one of ``owner``'s invitations or viewers; effective on the viewer's next request
    (dealers.access reads the row every time)."""
    with transaction.atomic():
        row = (
            SiteViewer.objects.select_for_update()
            .filter(pk=viewer_id, invited_by=owner, gateway__owner=owner)
            .first()
        )
        if row is None:
            raise DealerError("この見守りは見つかりません。")
        if row.revoked_at is None:
            _end(SiteViewer.objects.filter(pk=row.pk), by=owner)
            row.refresh_from_db()
    return row


def end_viewers_of_owner(*, owner: User) -> int:
    """退会 of an owner: every viewer and pending invitation it made ends."""
    return _end(SiteViewer.objects.filter(invited_by=owner, revoked_at__isnull=True), by=owner)


def end_viewing_of(*, viewer: User) -> int:
    """A viewer deleting its account: every site it watched stops being shared with it."""
    return _end(SiteViewer.objects.filter(viewer=viewer, revoked_at__isnull=True), by=viewer)


def _end(rows: QuerySet[SiteViewer], *, by: User) -> int:
    token_ids = [pk for pk in rows.values_list("token_id", flat=True) if pk is not None]
    AccountToken.objects.filter(pk__in=token_ids, used_at__isnull=True).update(
        voided_at=timezone.now()
    )
    ended: int = rows.update(revoked_at=timezone.now(), revoked_by=by)
    return ended
