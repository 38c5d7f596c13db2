from sqlmodel import SQLModel

import services.tickets.models  # noqa: F401  (registers the tables)
from kernel.migrations import run_env

run_env("tickets", SQLModel.metadata)
