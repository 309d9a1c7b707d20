"""Admins' privacy pages: find a customer, see and change their consent, export, erase."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import role_required
from accounts.http import AuthedHttpRequest
from accounts.models import Role
from core.errors import DomainError
from privacy.erasure import customer_erase
from privacy.exports.selectors import export_list_for_customer
from privacy.forms import ConsentForm, EraseForm
from privacy.selectors import ConsentRecordReader, consent_history_for_customer, privacy_event_list
from privacy.services import consent_record
from tickets.models import Customer
from tickets.selectors import customer_get_for_user, customer_search_for_user

PAGE = "privacy/customer.html"


@require_GET
@role_required(Role.ADMIN)
def customers(request: AuthedHttpRequest) -> HttpResponse:
    q = (request.GET.get("q") or "").strip()[:200]
    qs = customer_search_for_user(user=request.user, q=q)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    template = "privacy/customers.html"
    if request.htmx:
        template += "#customer-results"
    return render(request, template, {"page": page, "q": q})


def _context(customer: Customer, **extra: object) -> dict[str, object]:
    return {
        "customer": customer,
        "states": ConsentRecordReader().states(customer.pk),
        "history": consent_history_for_customer(customer=customer)[:50],
        "events": privacy_event_list(customer=customer)[:50],
        "exports": export_list_for_customer(customer=customer),
        "consent_form": ConsentForm(),
        "erase_form": EraseForm(),
        **extra,
    }


@require_GET
@role_required(Role.ADMIN)
def customer(request: AuthedHttpRequest, customer_id: int) -> HttpResponse:
    found = customer_get_for_user(user=request.user, customer_id=customer_id)
    return render(request, PAGE, _context(found))


@require_POST
@role_required(Role.ADMIN)
def consent_change(request: AuthedHttpRequest, customer_id: int) -> HttpResponse:
    found = customer_get_for_user(user=request.user, customer_id=customer_id)
    form = ConsentForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            consent_record(
                customer=found,
                purpose=form.cleaned_data["purpose"],
                granted=form.cleaned_data["granted"] == "yes",
                source=form.cleaned_data["source"],
                note=form.cleaned_data["note"],
                by=request.user,
            )
        except DomainError as exc:
            error = exc.message
    else:
        error = "; ".join(str(e) for errors in form.errors.values() for e in errors)
    if not request.htmx:
        if error:
            return render(request, PAGE, _context(found, consent_error=error), status=422)
        return redirect("privacy:customer", customer_id=found.pk)
    return render(
        request,
        f"{PAGE}#consent",
        _context(found, consent_error=error),
        status=422 if error else 200,
    )


@require_POST
@role_required(Role.ADMIN)
def erase(request: AuthedHttpRequest, customer_id: int) -> HttpResponse:
    found = customer_get_for_user(user=request.user, customer_id=customer_id)
    form = EraseForm(request.POST)
    if not form.is_valid():
        return render(request, PAGE, _context(found, erase_form=form), status=422)
    receipt = customer_erase(customer=found, by=request.user)
    messages.success(
        request,
        f"Customer #{found.pk} erased: {receipt.counts.get('messages', 0)} messages and "
        f"{receipt.counts.get('tickets', 0)} tickets emptied.",
    )
    return redirect("privacy:customer", customer_id=found.pk)


@require_GET
@role_required(Role.ADMIN)
def log(request: AuthedHttpRequest) -> HttpResponse:
    page = Paginator(privacy_event_list(), 100).get_page(request.GET.get("page"))
    return render(request, "privacy/log.html", {"page": page})
