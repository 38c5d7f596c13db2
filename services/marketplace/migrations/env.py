from sqlmodel import SQLModel

import services.marketplace.models  # noqa: F401  (registers the tables)
from kernel.migrations import run_env

run_env("marketplace", SQLModel.metadata)
