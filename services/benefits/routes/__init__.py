"""HTTP routes of the benefits service (parse, authorise, call the service, shape the answer)."""

from services.benefits.routes.catalogue import router as catalogue
from services.benefits.routes.coverage import router as coverage
from services.benefits.routes.dci import router as dci
from services.benefits.routes.files import router as files
from services.benefits.routes.ledger import router as ledger
from services.benefits.routes.reports import router as reports
from services.benefits.routes.review import router as review

ROUTERS = [catalogue, ledger, files, review, coverage, reports, dci]
