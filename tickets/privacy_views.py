"""Admins' privacy pages: find a customer, see and change their consent, export, erase."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import role_required
from accounts.models import Role
from core.errors import DomainError
from core.http import AuthedHttpRequest
from tickets.erasure import customer_erase
from tickets.forms import ConsentForm, EraseForm
from tickets.models import ConsentRecord, Customer, PrivacyEvent
from tickets.privacy import consent_record
from tickets.selectors import consent_states

PAGE = "tickets/privacy/customer.html"


@require_GET
@role_required(Role.ADMIN)
def customers(request: AuthedHttpRequest) -> HttpResponse:
    q = (request.GET.get("q") or "").strip()[:200]
    qs = Customer.objects.order_by("name", "pk")
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(email__icontains=q) | Q(external_id__icontains=q))
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    template = "tickets/privacy/customers.html"
    if request.htmx:
        template += "#customer-results"
    return render(request, template, {"page": page, "q": q})


def _context(customer: Customer, **extra: object) -> dict[str, object]:
    from tickets.exports import export_list_for_customer

    return {
        "customer": customer,
        "states": consent_states(customer=customer),
        "history": ConsentRecord.objects.filter(customer=customer)
        .select_related("recorded_by")
        .order_by("-recorded_at", "-id")[:50],
        "events": PrivacyEvent.objects.filter(customer=customer).select_related("actor")[:50],
        "exports": export_list_for_customer(customer=customer),
        "consent_form": ConsentForm(),
        "erase_form": EraseForm(),
        **extra,
    }


@require_GET
@role_required(Role.ADMIN)
def customer(request: AuthedHttpRequest, customer_id: int) -> HttpResponse:
    found = get_object_or_404(Customer, pk=customer_id)
    return render(request, PAGE, _context(found))


@require_POST
@role_required(Role.ADMIN)
def consent_change(request: AuthedHttpRequest, customer_id: int) -> HttpResponse:
    found = get_object_or_404(Customer, pk=customer_id)
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
        error = "; ".join(e for errors in form.errors.values() for e in errors)
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
    found = get_object_or_404(Customer, pk=customer_id)
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
    events = PrivacyEvent.objects.select_related("actor", "customer")
    page = Paginator(events, 100).get_page(request.GET.get("page"))
    return render(request, "tickets/privacy/log.html", {"page": page})
