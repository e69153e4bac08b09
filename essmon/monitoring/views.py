from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from essmon.accounts.selectors import gateways_of


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """モニタリングサイト entry: the gateways this user may watch."""
    return render(request, "monitoring/index.html", {"gateways": gateways_of(user=request.user)})
