"""Request and response bodies of the notify API."""

from services.notify.schemas.duelists import (
    DoseCreate,
    DoseRead,
    DueItem,
    DueListPage,
    ScheduleDocument,
    ScheduleRead,
    WorkerRead,
    WorkerUpsert,
)
from services.notify.schemas.messages import (
    MessageEventRead,
    MessagePage,
    MessageRead,
    OptOutCreate,
    OptOutPage,
    OptOutRead,
    SendRequest,
)
from services.notify.schemas.templates import Preview, PreviewRequest, TemplateCreate, TemplatePage, TemplateRead

__all__ = [
    "DoseCreate", "DoseRead", "DueItem", "DueListPage", "MessageEventRead", "MessagePage", "MessageRead",
    "OptOutCreate", "OptOutPage", "OptOutRead", "Preview", "PreviewRequest", "ScheduleDocument",
    "ScheduleRead", "SendRequest", "TemplateCreate",
    "TemplatePage", "TemplateRead", "WorkerRead", "WorkerUpsert",
]
