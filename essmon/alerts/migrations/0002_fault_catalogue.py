"""The first fault catalogue: the codes KP-GWBT gateways report (docs/alerts.md). Kept as
data from here on: operators add and edit codes in the admin."""

from django.db import migrations

CATALOGUE = [
    ("E101", "major", "太陽光パネルの絶縁抵抗低下",
     "太陽光パネルまたは配線の絶縁抵抗が下がったため、パワーコンディショナが発電を止めています。",
     "雨の後に一時的に起きることがあります。晴れても続く場合は、パネルと配線の点検を販売店にご依頼ください。"),
    ("E110", "minor", "太陽光の入力電圧が高すぎます",
     "太陽光パネルからの電圧が上限を超えました。寒い晴天の朝に起きることがあります。",
     "頻繁に起きる場合は、パネルの直列枚数の確認を販売店にご依頼ください。"),
    ("E203", "major", "蓄電池の高温",
     "蓄電池の温度が上限を超えたため、充放電を止めています。",
     "蓄電池の周囲の風通しと直射日光をご確認ください。続く場合は販売店にご連絡ください。"),
    ("E210", "minor", "蓄電池セルの電圧のばらつき",
     "蓄電池のセル間の電圧差が大きくなっています。自動で均等化を試みています。",
     "数日続く場合は、蓄電池の点検を販売店にご依頼ください。"),
    ("E305", "major", "系統電圧の異常",
     "電力会社の電線の電圧が範囲外になったため、系統連系を一時的に止めています。",
     "近隣の工事や停電の影響のことがあります。復旧しない場合や繰り返す場合は販売店にご連絡ください。"),
    ("E310", "major", "系統周波数の異常",
     "電力会社の電線の周波数が範囲外になったため、系統連系を一時的に止めています。",
     "多くは自動で復旧します。繰り返す場合は販売店にご連絡ください。"),
    ("E501", "critical", "パワーコンディショナの内部異常",
     "パワーコンディショナが内部の異常を検知し、運転を停止しました。",
     "分電盤の蓄電システム用ブレーカーを切り、販売店に至急ご連絡ください。"),
    ("W401", "minor", "パワーコンディショナとの通信の中断",
     "ゲートウェイとパワーコンディショナの間の通信が途切れています。",
     "ゲートウェイとパワーコンディショナの間のケーブルをご確認ください。"),
    ("W402", "info", "蓄電池の校正中",
     "蓄電残量を正しく計るための校正を行っています。その間、充放電が制限されます。",
     "対応は不要です。"),
]


def load(apps, schema_editor):
    FaultCode = apps.get_model("alerts", "FaultCode")
    for code, severity, title, description, action in CATALOGUE:
        FaultCode.objects.update_or_create(
            code=code,
            defaults={"severity": severity, "title": title, "description": description,
                      "action": action},
        )


def unload(apps, schema_editor):
    apps.get_model("alerts", "FaultCode").objects.filter(
        code__in=[row[0] for row in CATALOGUE]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("alerts", "0001_initial")]
    operations = [migrations.RunPython(load, unload)]
