"""Issue 12 §2: a 設置先 has its own 市町村区, and addresses stored short or doubled are
repaired where the postal code proves what is missing.

Before this, the 設置先 block had no 市町村区: the postal look-up wrote the city into
それ以降の住所 only when that field was still empty, so a site whose rest was typed first
was kept as 「京都府東塩小路町1-1」, and a look-up meeting the person's typing could double
the city (「京都市下京区京都市下京区…」). For every site and every account:

- a prefecture or city repeated at the start of それ以降の住所 is dropped (it is in its
  own field; nothing is lost);
- a site whose rest begins with its city moves the city into the new field;
- a site whose rest begins with a town of its postal code, whose prefecture is that
  code's and whose code lies in one city only, gets that city (the short address);
- anything else is left as it is (the city cannot be told safely) and still shows
  whole as 都道府県 + それ以降の住所.

Backwards, a site's city goes back to the start of それ以降の住所.
"""

from django.db import migrations, models

from essmon.core.japanese import InputError, lookup_postal_code, without_repeated_area


def repaired(
    postal_code: str, prefecture: str, city: str, rest: str
) -> tuple[str, str] | None:
    """(city, rest) for a stored address, or None when it is to stay as it is."""
    if city:
        trimmed = without_repeated_area(rest, prefecture, city)
        return (city, trimmed) if trimmed and trimmed != rest else None
    trimmed = without_repeated_area(rest, prefecture, "") or rest
    try:
        found = lookup_postal_code(postal_code)
    except InputError:
        found = None
    if found and found.prefecture == prefecture and found.city:
        if trimmed.startswith(found.city):
            after = without_repeated_area(trimmed, prefecture, found.city)
            if after:
                return found.city, after
        elif any(town and trimmed.startswith(town) for town in found.towns):
            return found.city, trimmed
    return ("", trimmed) if trimmed != rest else None


def repair(apps, schema_editor) -> None:
    for model in (apps.get_model("gateways", "Site"), apps.get_model("accounts", "User")):
        for row in model.objects.only("postal_code", "prefecture", "city", "address_rest"):
            fixed = repaired(row.postal_code, row.prefecture, row.city, row.address_rest)
            if fixed:
                row.city, row.address_rest = fixed
                row.save(update_fields=["city", "address_rest"])


def put_city_back(apps, schema_editor) -> None:
    Site = apps.get_model("gateways", "Site")
    for site in Site.objects.exclude(city=""):
        site.address_rest = f"{site.city}{site.address_rest}"[:200]
        site.save(update_fields=["address_rest"])


class Migration(migrations.Migration):
    dependencies = [
        ("gateways", "0004_gateway_reserved_for"),
        ("accounts", "0002_terms_v1"),
    ]

    operations = [
        migrations.AddField(
            model_name="site",
            name="city",
            field=models.CharField(blank=True, max_length=100, verbose_name="市町村区"),
        ),
        migrations.RunPython(repair, put_city_back),
    ]
