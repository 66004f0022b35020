"""The customer's own pages, reached through the links we send them, and the public request form.

Every page opens its link first (domain.links): a made-up, altered, expired or spent link, or one for an appointment
that was replaced, gets a page that says so and changes nothing. A GET only reads; each change is a POST to the
link's own address, which answers with a redirect (303) to the page that shows the result. Nothing a form sends
names a job, an appointment or a complaint: the link decides which one.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import TooManyRequestsException
from litestar.params import Parameter
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import LoginLimiter
from api.certificates.issue import certificate_filename, render_certificate
from api.customer_views import render
from api.planning import slots as slot_planning
from api.problems import problem
from domain import links
from domain.enums import Channel, ComplaintCategory, LinkPurpose
from domain.errors import DomainError, GeocodingFailed
from domain.keys import ServerKeys
from domain.links import LinkRefused, OpenLink
from domain.services import customer_notices, customer_portal, intake
from domain.services.intake import CustomerDetails, IntakeCommand, SiteDetails
from sync.storage import BlobStore

Token = Annotated[str, Parameter(max_length=64)]
MAX_SIGNATURE_BYTES = 150 * 1024
# The customer chooses among the slots of the coming days that start at least this far ahead.
SLOT_DAYS = 6
SLOT_NOTICE = dt.timedelta(hours=2)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

REFUSALS = {
    "unknown": (404, "This link is not valid", "Check that you opened the whole link from your message."),
    "expired": (410, "This link has expired", "Please contact us and we will send you a new one."),
    "used": (410, "This link was already used", "It could be used once, and it was. Nothing more is needed."),
    "superseded": (
        410,
        "This appointment was replaced",
        "A newer appointment replaced the one this link was for; use the link in our latest message.",
    ),
    "purpose": (404, "This link cannot do that", "Use the buttons on the page the link opens."),
}


def _wants_html(request: Request[Any, Any, Any]) -> bool:
    accept = request.headers.get("accept", "")
    return "json" not in accept or "text/html" in accept


def refusal(request: Request[Any, Any, Any], status: int, title: str, detail: str) -> Response[Any]:
    """A clear page for a person, or a problem document for a program that asked for JSON."""
    if not _wants_html(request):
        return problem(status, title, detail)
    return Response(
        render("message.html", title=title, detail=detail, bad=True),
        status_code=status,
        media_type=MediaType.HTML,
        headers={"Cache-Control": "no-store"},
    )


def _html(body: str) -> Response[str]:
    return Response(
        body,
        media_type=MediaType.HTML,
        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"},
    )


def _peer(request: Request[Any, Any, Any]) -> str:
    return f"peer:{request.client.host if request.client else 'unknown'}"


class LinkForm(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of the forms; a field the page never sends (a tampered form) is refused."""


class RescheduleForm(LinkForm):
    starts_at: dt.datetime
    ends_at: dt.datetime


class SignForm(LinkForm):
    signer_name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    image: Annotated[str, msgspec.Meta(max_length=MAX_SIGNATURE_BYTES * 2)]


class RefuseForm(LinkForm):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class RatingForm(LinkForm):
    score: Annotated[int, msgspec.Meta(ge=1, le=5)]
    comment: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class ComplaintForm(LinkForm):
    category: ComplaintCategory
    description: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]


class VerdictForm(LinkForm):
    satisfied: Annotated[str, msgspec.Meta(pattern="^(yes|no)$")]
    comment: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class RequestForm(LinkForm):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    address: Annotated[str, msgspec.Meta(min_length=3, max_length=500)]
    description: Annotated[str, msgspec.Meta(min_length=3, max_length=4000)]
    phone: Annotated[str, msgspec.Meta(max_length=32)] = ""
    email: Annotated[str, msgspec.Meta(max_length=320)] = ""
    when: Annotated[str, msgspec.Meta(max_length=20)] = "any"
    # A field people never see: a form that fills it in is a robot's.
    website: Annotated[str, msgspec.Meta(max_length=200)] = ""


class FormRefused(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


async def _form(request: Request[Any, Any, Any], kind: type[Any]) -> Any:
    form = await request.form()
    values = {key: form.get(key) for key in form}
    try:
        return msgspec.convert(values, kind, strict=False)
    except msgspec.ValidationError as exc:
        raise FormRefused(str(exc)) from exc


def _link_url(keys: ServerKeys, link: Any) -> str:
    return f"/c/{links.token_for(keys.link_secret, link)}"


def on_link_refused(request: Request[Any, Any, Any], exc: LinkRefused) -> Response[Any]:
    status, title, detail = REFUSALS[exc.reason]
    return refusal(request, status, title, detail)


def on_form_refused(request: Request[Any, Any, Any], exc: FormRefused) -> Response[Any]:
    return refusal(request, 422, "Please check what you sent", exc.detail)


def on_domain_refused(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    return refusal(request, 409, "That cannot be done now", exc.detail)


def on_too_many(request: Request[Any, Any, Any], exc: TooManyRequestsException) -> Response[Any]:
    response = refusal(request, 429, "Too many attempts", "Please wait a minute before trying again.")
    response.headers.update(exc.headers or {})
    return response


async def provide_link(
    request: Request[Any, Any, Any], state: State, db_session: AsyncSession, keys: ServerKeys, token: Token
) -> OpenLink:
    """The link of the page, opened, for any route of the controller: of one of the purposes the route names
    (`purposes` in its opt; none: any), and locked when the route changes something."""
    limiter: LoginLimiter = state.link_limiter
    limiter.check(_peer(request))
    try:
        opened = await links.open_link(
            db_session,
            keys.link_secret,
            token,
            now=dt.datetime.now(dt.UTC),
            for_update=request.method == "POST",
        )
    except LinkRefused as exc:
        if exc.reason == "unknown":
            limiter.failed(_peer(request))
        raise
    purposes = request.route_handler.opt.get("purposes", ())
    if purposes and opened.link.purpose not in purposes:
        raise LinkRefused("purpose", opened.link)
    db_session.info["actor"] = f"customer-link:{opened.link.id}"
    return opened


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CustomerPageController(Controller):
    path = "/c/{token:str}"
    tags = ["customer pages"]
    include_in_schema = False
    dependencies = {"opened": Provide(provide_link)}
    exception_handlers = {
        LinkRefused: on_link_refused,
        FormRefused: on_form_refused,
        DomainError: on_domain_refused,
        TooManyRequestsException: on_too_many,
    }

    @get(media_type=MediaType.HTML, operation_id="OpenCustomerLink")
    async def show(self, opened: OpenLink, db_session: AsyncSession, token: Token) -> Response[str]:
        visit = await customer_portal.visit_view(db_session, opened)
        return _html(
            render(
                "visit.html",
                visit=visit,
                purpose=opened.link.purpose.value,
                base=f"/c/{token}",
                certificate=await customer_portal.has_certificate(db_session, opened.job),
            )
        )

    @get("/certificate", operation_id="GetCertificateByLink")
    async def certificate(
        self,
        opened: OpenLink,
        state: State,
        db_session: AsyncSession,
        format: Literal["html", "pdf"] = "html",
    ) -> Response[bytes]:
        """The completion certificate of the link's own job (any of its links, once the job is sealed)."""
        if not await customer_portal.has_certificate(db_session, opened.job):
            raise LinkRefused("purpose", opened.link)
        content, media_type = await render_certificate(db_session, state.blob_store, opened.job, format)
        headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
        if format == "pdf":
            filename = certificate_filename(opened.job.id, "pdf")
            headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return Response(content, media_type=media_type, headers=headers)

    @post(
        "/confirm", operation_id="ConfirmAppointmentByLink", status_code=303, purposes=(LinkPurpose.CONFIRM,)
    )
    async def confirm(self, opened: OpenLink, db_session: AsyncSession, token: Token) -> Redirect:
        await customer_portal.confirm(db_session, opened, now=_now())
        return Redirect(f"/c/{token}", status_code=303)

    @get(
        "/reschedule",
        media_type=MediaType.HTML,
        operation_id="ListSlotsByLink",
        purposes=(LinkPurpose.CONFIRM,),
    )
    async def slots(self, opened: OpenLink, db_session: AsyncSession, token: Token) -> Response[str]:
        visit = await customer_portal.visit_view(db_session, opened)
        now = _now()
        today = now.astimezone(ZoneInfo(visit.timezone)).date()
        found = await slot_planning.slots_for(db_session, opened.job, today, days=SLOT_DAYS)
        # Later today too, but not a slot the technician could not reach in time.
        offered = [s for s in found if s.feasible and s.starts_at >= now + SLOT_NOTICE][:8]
        return _html(render("slots.html", visit=visit, slots=offered, base=f"/c/{token}"))

    @post("/reschedule", operation_id="RescheduleByLink", status_code=303, purposes=(LinkPurpose.CONFIRM,))
    async def reschedule(
        self, request: Request[Any, Any, Any], opened: OpenLink, db_session: AsyncSession, keys: ServerKeys
    ) -> Redirect:
        form: RescheduleForm = await _form(request, RescheduleForm)
        if form.starts_at.tzinfo is None or form.ends_at.tzinfo is None:
            raise FormRefused("a slot's times carry their offset")
        _, _, appointment = await slot_planning.book_for(
            db_session, opened.job, form.starts_at, form.ends_at, None
        )
        # The old link's appointment is replaced; the customer goes on with a link for the new one.
        follow = links.new_link(
            db_session, LinkPurpose.CONFIRM, opened.job, now=_now(), appointment_id=appointment.id
        )
        await db_session.flush()
        return Redirect(_link_url(keys, follow), status_code=303)

    @post("/sign", operation_id="SignOffByLink", status_code=200, purposes=(LinkPurpose.SIGN_OFF,))
    async def sign(
        self,
        request: Request[Any, Any, Any],
        opened: OpenLink,
        state: State,
        db_session: AsyncSession,
        keys: ServerKeys,
    ) -> Response[str]:
        form: SignForm = await _form(request, SignForm)
        image = _png(form.image)
        digest = hashlib.sha256(image).hexdigest()
        store: BlobStore = state.blob_store
        if not store.has(digest):
            store.write_at(digest, 0, image)
            store.finish(digest)
        await customer_portal.sign_remotely(
            db_session, keys, opened, signer_name=form.signer_name, image_sha256=digest, now=_now()
        )
        return _thanks(
            "Thank you for signing",
            "Your signature is recorded and sealed. We are sending you the completion certificate.",
        )

    @post("/refuse", operation_id="RefuseSignOffByLink", status_code=200, purposes=(LinkPurpose.SIGN_OFF,))
    async def refuse(
        self, request: Request[Any, Any, Any], opened: OpenLink, db_session: AsyncSession
    ) -> Response[str]:
        form: RefuseForm = await _form(request, RefuseForm)
        await customer_portal.refuse_sign_off(db_session, opened, reason=form.reason, now=_now())
        return _thanks("We are sorry", "We reopened the job and will contact you to do the work again.")

    @post("/rating", operation_id="RateByLink", status_code=303, purposes=(LinkPurpose.SURVEY,))
    async def rate(
        self, request: Request[Any, Any, Any], opened: OpenLink, db_session: AsyncSession, token: Token
    ) -> Redirect:
        form: RatingForm = await _form(request, RatingForm)
        await customer_portal.rate(
            db_session, opened, score=form.score, comment=form.comment.strip() or None, now=_now()
        )
        return Redirect(f"/c/{token}", status_code=303)

    @post("/complaint", operation_id="ComplainByLink", status_code=303, purposes=(LinkPurpose.SURVEY,))
    async def complain(
        self, request: Request[Any, Any, Any], opened: OpenLink, db_session: AsyncSession, keys: ServerKeys
    ) -> Redirect:
        form: ComplaintForm = await _form(request, ComplaintForm)
        _, follow = await customer_portal.complain(
            db_session, opened, category=form.category, description=form.description, now=_now()
        )
        assert follow is not None  # a complaint about a job always gets its link
        await db_session.flush()
        return Redirect(_link_url(keys, follow), status_code=303)

    @post(
        "/verdict", operation_id="AnswerResolutionByLink", status_code=303, purposes=(LinkPurpose.COMPLAINT,)
    )
    async def verdict(
        self, request: Request[Any, Any, Any], opened: OpenLink, db_session: AsyncSession, token: Token
    ) -> Redirect:
        form: VerdictForm = await _form(request, VerdictForm)
        await customer_portal.answer_resolution(
            db_session,
            opened,
            satisfied=form.satisfied == "yes",
            comment=form.comment.strip() or None,
            now=_now(),
        )
        return Redirect(f"/c/{token}", status_code=303)


def _png(data_url: str) -> bytes:
    prefix = "data:image/png;base64,"
    if not data_url.startswith(prefix):
        raise FormRefused("the signature must be a PNG drawn on the page")
    try:
        image = base64.b64decode(data_url[len(prefix) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FormRefused("the signature image could not be read") from exc
    if not image.startswith(PNG_MAGIC) or len(image) > MAX_SIGNATURE_BYTES:
        raise FormRefused("the signature image could not be read")
    return image


def _thanks(title: str, detail: str) -> Response[str]:
    return _html(render("message.html", title=title, detail=detail, bad=False))


def _when_choices(today: dt.date) -> list[tuple[str, str]]:
    choices = [("any", "Any time")]
    for offset in range(1, 8):
        day = today + dt.timedelta(days=offset)
        choices.append((f"{day.isoformat()}:am", f"{day:%A %d %B}, morning, 8:00 to 12:00"))
        choices.append((f"{day.isoformat()}:pm", f"{day:%A %d %B}, afternoon, 12:00 to 18:00"))
    return choices


def _window(choice: str, zone: ZoneInfo) -> intake.Window | None:
    if choice == "any":
        return None
    try:
        day_text, part = choice.split(":")
        day = dt.date.fromisoformat(day_text)
    except ValueError as exc:
        raise FormRefused("choose a time from the list") from exc
    hours = {"am": (8, 12), "pm": (12, 18)}.get(part)
    if hours is None:
        raise FormRefused("choose a time from the list")
    start = dt.datetime.combine(day, dt.time(hours[0]), zone)
    return intake.Window(starts_at=start, ends_at=start.replace(hour=hours[1]))


class PublicRequestController(Controller):
    """The web channel: anyone may ask for a visit; what they send lands in the dispatchers' intake."""

    path = "/request"
    tags = ["customer pages"]
    include_in_schema = False
    exception_handlers = {TooManyRequestsException: on_too_many}

    @get(media_type=MediaType.HTML, operation_id="GetRequestForm")
    async def form(self) -> Response[str]:
        today = dt.datetime.now(dt.UTC).date()
        return _html(render("request.html", form={}, error=None, when_choices=_when_choices(today)))

    @post(operation_id="SubmitPublicRequest", status_code=303)
    async def submit(
        self, request: Request[Any, Any, Any], state: State, db_session: AsyncSession, keys: ServerKeys
    ) -> Response[Any]:
        limiter: LoginLimiter = state.request_limiter
        limiter.check(_peer(request))
        raw = await request.form()
        values = {key: raw.get(key) for key in raw}
        today = dt.datetime.now(dt.UTC).date()
        try:
            form = msgspec.convert(values, RequestForm, strict=False)
        except msgspec.ValidationError as exc:
            return _request_error(values, f"Please check the form: {exc}", today)
        limiter.failed(_peer(request))  # every accepted submission counts against the window
        if form.website:
            # A robot: answer as if it worked, and keep nothing.
            return _thanks("Thank you", "We received your request.")
        now = dt.datetime.now(dt.UTC)
        db_session.info["actor"] = "web-form"
        try:
            result = await intake.take_request(
                db_session,
                None,
                state.locator,
                IntakeCommand(
                    channel=Channel.WEB,
                    description=form.description.strip(),
                    customer=CustomerDetails(
                        name=form.name.strip(),
                        phone=form.phone.strip() or None,
                        email=form.email.strip() or None,
                    ),
                    site=SiteDetails(address=form.address.strip()),
                    received_at=now,
                ),
            )
        except GeocodingFailed:
            await db_session.rollback()
            return _request_error(
                values, "We could not find this address: please check it, or call us.", today
            )
        except DomainError as exc:
            await db_session.rollback()
            return _request_error(values, exc.detail, today)
        territory_zone = ZoneInfo((await customer_portal.territory_of(db_session, result.job)).timezone)
        try:
            window = _window(form.when, territory_zone)
        except FormRefused as exc:
            await db_session.rollback()
            return _request_error(values, exc.detail, today)
        if window is not None:
            customer_portal.add_window(result.job, window.starts_at, window.ends_at)
        link = await customer_notices.request_received(db_session, result.job, now=now)
        await db_session.flush()
        return Redirect(_link_url(keys, link), status_code=303)


def _request_error(values: dict[str, Any], error: str, today: dt.date) -> Response[str]:
    body = render(
        "request.html",
        form={k: v for k, v in values.items() if isinstance(v, str)},
        error=error,
        when_choices=_when_choices(today),
    )
    return Response(body, status_code=422, media_type=MediaType.HTML, headers={"Cache-Control": "no-store"})
