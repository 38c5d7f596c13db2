"""HTTP routes of the benefits service (parse, authorise, call the service, shape the answer)."""

from services.benefits.routes.catalogue import router as catalogue
from services.benefits.routes.ledger import router as ledger
from services.benefits.routes.review import router as review

ROUTERS = [catalogue, ledger, review]
