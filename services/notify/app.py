"""The notify service application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from kernel.app import create_service_app
from kernel.db import transaction
from kernel.runtime import ServiceSpec
from kernel.scheduler import SystemClock, schedule
from kernel.settings import Settings, get_settings
from services.notify import SERVICE
from services.notify.events import SUBSCRIPTIONS
from services.notify.providers.twilio import TwilioProvider
from services.notify.routes import ROUTERS
from services.notify.service.campaigns import JOBS as CAMPAIGN_JOBS
from services.notify.service.dispatch import Dispatcher
from services.notify.service.duelists import JOBS as DUE_LIST_JOBS
from services.notify.service.duelists import REMINDER_JOB
from services.notify.service.webhooks import WebhookSender
from services.notify.settings import NotifySettings, get_notify_settings

SPEC = ServiceSpec(
    name=SERVICE,
    title="GramSetu Notify",
    description=(
        "SMS and voice alerts in Hindi, Bengali and English through Twilio: DLT-checked templates with "
        "segment and cost previews, idempotent sending with expiry and quiet hours, opt-out by keypress, "
        "missed call or operator, and immunisation due lists."
    ),
    routers=ROUTERS,
    subscriptions=SUBSCRIPTIONS,
)
SPEC.jobs.update(DUE_LIST_JOBS)
SPEC.jobs.update(CAMPAIGN_JOBS)


def make_provider(settings: NotifySettings) -> TwilioProvider:
    return TwilioProvider(settings.twilio_account_sid, settings.twilio_auth_token, api_base=settings.twilio_api_base,
                          timeout=settings.provider_timeout_seconds,
                          messaging_service_sid=settings.twilio_messaging_service_sid, sms_from=settings.sms_from,
                          voice_from=settings.voice_from)


async def _schedule_daily_reminders(runtime: object) -> None:
    async with transaction(runtime.sessionmaker) as session:  # type: ignore[attr-defined]
        await schedule(session, SERVICE, kind=REMINDER_JOB, key="daily", replace=False,
                       due_at=(runtime.clock or SystemClock()).now())  # type: ignore[attr-defined]


def create_app(settings: Settings | None = None, *, workers: bool | None = None, **kwargs: object) -> FastAPI:
    settings = settings or get_settings()
    notify_settings = get_notify_settings()
    notify_settings.check_production(settings.environment)
    app = create_service_app(SPEC, settings, workers=workers, **kwargs)  # type: ignore[arg-type]
    provider = make_provider(notify_settings)
    app.state.provider = provider
    kernel_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with kernel_lifespan(app):
            runtime = app.state.runtime
            dispatcher = Dispatcher(runtime.sessionmaker, provider, notify_settings, runtime.clock)
            app.state.dispatcher = dispatcher
            webhooks = WebhookSender(runtime.sessionmaker, notify_settings, runtime.clock,
                                     lease_seconds=notify_settings.webhook_lease_seconds)
            app.state.webhooks = webhooks
            if workers if workers is not None else settings.run_workers:
                await _schedule_daily_reminders(runtime)
                runtime._spawn("dispatcher", dispatcher.run)  # supervised like the kernel's own workers
                runtime._spawn("webhooks", webhooks.run)
            try:
                yield
            finally:
                await provider.close()
                await webhooks.close()

    app.router.lifespan_context = lifespan
    return app
