"""ゲートウェイの登録: a logged-in customer claims one more gateway, with its 案件."""

from __future__ import annotations

from datetime import date

from django.db import transaction

from essmon.accounts.models import User
from essmon.accounts.services.inputs import SiteInput
from essmon.accounts.services.registration import record_warranty_dates
from essmon.gateways import services as gateways
from essmon.gateways.models import Gateway


def add_gateway(
    *,
    user: User,
    gateway_id: str,
    site: SiteInput,
    client_address: str,
    gateway_password: str | None = None,
    verified: dict[str, object] | None = None,
    grid_connection_date: date | None = None,
    received_date: date | None = None,
) -> Gateway:
    """ゲートウェイの登録 for a logged-in customer: claimed at once, with its 案件 and
    the warranty dates when given."""
    if user.role != User.Role.CUSTOMER:
        # a dealer or operator holding a sheet must not become a customer's gateway owner
        raise gateways.GatewayError("ゲートウェイはお客様のアカウントでのみ登録できます。")
    gateway = gateways.open_gateway(
        gateway_id=gateway_id,
        password=gateway_password,
        verified=verified,
        client_address=client_address,
        user_id=user.pk,
    )
    with transaction.atomic():
        new_site = gateways.create_site(owner=user, **site.__dict__)
        gateways.take_gateway(gateway=gateway, owner=user, site=new_site, hold=False)
        gateway.refresh_from_db()
        record_warranty_dates(gateway, user, grid_connection_date, received_date)
    return gateway
