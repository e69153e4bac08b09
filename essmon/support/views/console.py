"""製造登録コンソール: the provisioning batches, a new batch, a factory list, a batch's
sheets. 管理担当 only (dealers.access.administration_only); anyone else finds nothing."""

from __future__ import annotations

import csv
import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from essmon.accounts.http import AuthenticatedRequest
from essmon.dealers.access import administration_only
from essmon.gateways.services.provisioning import CSV_FIELDS
from essmon.support import selectors, services
from essmon.support.forms import FactoryListForm, ProvisionForm, SheetsForm
from essmon.support.services import SupportError

PAGE_SIZE = 30


def _console(
    request: AuthenticatedRequest,
    *,
    provision_form: ProvisionForm | None = None,
    import_form: FactoryListForm | None = None,
    problems: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    page = Paginator(selectors.batches(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "support/console.html",
        {
            "page": page,
            "provision_form": provision_form or ProvisionForm(),
            "import_form": import_form or FactoryListForm(),
            "sheets_form": SheetsForm(),
            "problems": problems or [],
        },
        status=status,
    )


@login_required
@administration_only
@require_GET
def console(request: AuthenticatedRequest) -> HttpResponse:
    return _console(request)


@login_required
@administration_only
@require_http_methods(["GET", "POST"])
def provision(request: AuthenticatedRequest) -> HttpResponse:
    """A new batch; the answer is its sheet list (CSV with the passwords and device secrets:
    the only time they exist in plain text), as the command's ``--out`` file."""
    if request.method == "GET":
        return redirect("support:console")
    form = ProvisionForm(request.POST)
    if form.is_valid():
        try:
            made = services.provision(
                operator=request.user,
                count=form.cleaned_data["count"],
                model=form.cleaned_data["model"],
                part_number=form.cleaned_data["part_number"],
                lot=form.cleaned_data["lot"] or None,
            )
        except SupportError as exc:
            form.add_error(None, exc.message)
        else:
            batch = made[0].batch_id
            messages.success(
                request,
                f"バッチ #{batch}({len(made)}台)を作成し、用紙リスト(CSV)をダウンロードしました。"
                "登録用紙は一覧の「用紙を印刷」から。",
            )
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(CSV_FIELDS)
            for row in made:
                writer.writerow(
                    [row.gateway_id, row.password, row.model, row.part_number, row.device_secret]
                )
            response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="batch-{batch}.csv"'
            return response
    return _console(request, provision_form=form, status=400)


@login_required
@administration_only
@require_http_methods(["GET", "POST"])
def import_list(request: AuthenticatedRequest) -> HttpResponse:
    if request.method == "GET":
        return redirect("support:console")
    form = FactoryListForm(request.POST, request.FILES)
    problems: list[str] = []
    if form.is_valid():
        try:
            batch = services.import_list(
                operator=request.user, text=form.text, name=form.cleaned_data["file"].name[:100]
            )
        except SupportError as exc:
            form.add_error("file", exc.message)
            problems = exc.problems
        else:
            messages.success(
                request, f"工場リストを取り込みました(バッチ #{batch.pk}、{batch.count}台)。"
            )
            return redirect("support:console")
    return _console(request, import_form=form, problems=problems, status=400)


@login_required
@administration_only
@require_POST
def sheets(request: AuthenticatedRequest) -> HttpResponse:
    """A batch's sheets as a PDF download (POST: the PDF carries the passwords)."""
    form = SheetsForm(request.POST)
    if not form.is_valid():
        messages.error(request, "印刷するバッチと用紙を選んでください。")
        return redirect("support:console")
    batch = selectors.batch_with_pk(form.cleaned_data["batch"])
    if batch is None:
        messages.error(request, "そのバッチはありません。")
        return redirect("support:console")
    size = form.cleaned_data["size"]
    try:
        pdf = services.print_sheets(operator=request.user, batch=batch, size=size)
    except SupportError as exc:
        messages.error(request, exc.message)
        return redirect("support:console")
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="sheets-batch-{batch.pk}-{size}.pdf"'
    return response
