"""Privileges in the admin's account pages: an operator with the admin and the right to
change accounts, but not a superuser, must not be able to give anyone (the support
account, a customer, itself) 管理サイト利用, superuser status, groups, permissions or an
operator's role, nor take over an account that holds them; a superuser may."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.forms import MultiWidget
from django.test import Client
from django.urls import reverse

from essmon.accounts.models import User
from tests import factories

pytestmark = pytest.mark.django_db

PRIVILEGES = ("is_staff", "is_superuser")


def staff_operator() -> User:
    """管理担当 with the admin and every permission on accounts, not a superuser."""
    user = factories.admin_operator(email="staff@maker.example.jp", is_superuser=False)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="accounts",
            codename__in=["view_user", "change_user", "add_user", "delete_user"],
        )
    )
    return user


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def change_form(client: Client, user: User) -> dict:
    """The change page's form as the browser would send it back, unchanged."""
    page = client.get(reverse("admin:accounts_user_change", args=[user.pk]))
    assert page.status_code == 200
    form = page.context["adminform"].form
    data: dict = {}
    for name, field in form.fields.items():
        if field.disabled:
            continue
        value = form[name].value()
        if isinstance(field.widget, MultiWidget):
            parts = field.widget.decompress(value)
            for index, part in enumerate(parts):
                data[f"{name}_{index}"] = "" if part is None else str(part)
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        elif isinstance(value, list | tuple):
            data[name] = [str(v) for v in value]
        else:
            data[name] = "" if value is None else str(value)
    return data


def post_change(client: Client, user: User, **changes) -> int:
    data = {**change_form(client, user), **changes}
    return client.post(reverse("admin:accounts_user_change", args=[user.pk]), data).status_code


@pytest.mark.parametrize("who", ["support", "customer", "self"])
def test_a_staff_operator_cannot_grant_privileges(who):
    staff = staff_operator()
    client = signed_in(staff)
    group = Group.objects.create(name="全権")
    group.permissions.set(Permission.objects.all())
    target = {
        "support": lambda: factories.support_operator(),
        "customer": lambda: factories.customer(email="c@example.jp"),
        "self": lambda: staff,
    }[who]()
    every = [str(p.pk) for p in Permission.objects.all()]
    post_change(
        client,
        target,
        is_staff="on",
        is_superuser="on",
        groups=[str(group.pk)],
        user_permissions=every,
    )
    target.refresh_from_db()
    assert not target.is_superuser
    assert target.is_staff == (who == "self")
    assert not target.groups.exists()
    if who != "self":
        assert not target.user_permissions.exists()
    else:
        assert target.user_permissions.count() == 4


@pytest.mark.parametrize("role", [User.Role.OPERATOR, User.Role.SUPPORT])
def test_a_staff_operator_cannot_give_an_operators_role(role):
    client = signed_in(staff_operator())
    customer = factories.customer(email="c@example.jp")
    post_change(client, customer, role=role)
    customer.refresh_from_db()
    assert customer.role == User.Role.CUSTOMER
    added = client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "new@example.jp",
            "name": "新規",
            "role": role,
            "password1": "Sakura2026x!",
            "password2": "Sakura2026x!",
        },
    )
    assert added.status_code == 200  # the form again, with the role refused
    assert not User.objects.filter(email="new@example.jp").exists()


def test_a_staff_operator_cannot_take_over_an_operators_account():
    """Changing another operator's address or password would be its privileges taken."""
    client = signed_in(staff_operator())
    for other in (
        factories.admin_operator(email="root@maker.example.jp"),
        factories.support_operator(email="desk@maker.example.jp"),
    ):
        before = other.password
        post_change(client, other, email="mine@example.jp")
        password = reverse("admin:auth_user_password_change", args=[other.pk])
        assert client.get(password).status_code == 403
        answer = client.post(password, {"password1": "Taken2026x!", "password2": "Taken2026x!"})
        assert answer.status_code == 403
        other.refresh_from_db()
        assert other.email != "mine@example.jp" and other.password == before


def test_a_staff_operator_still_changes_a_customers_other_fields():
    client = signed_in(staff_operator())
    customer = factories.customer(email="c@example.jp", name="旧 名前")
    assert post_change(client, customer, name="新 名前") == 302
    customer.refresh_from_db()
    assert customer.name == "新 名前"


def test_a_superuser_may_grant_them():
    root = factories.admin_operator(email="root@maker.example.jp")
    client = signed_in(root)
    support = factories.support_operator()
    assert post_change(client, support, is_staff="on") == 302
    support.refresh_from_db()
    assert support.is_staff
    customer = factories.customer(email="c@example.jp")
    assert post_change(client, customer, role=User.Role.SUPPORT) == 302
    customer.refresh_from_db()
    assert customer.role == User.Role.SUPPORT
