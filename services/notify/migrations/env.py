from sqlmodel import SQLModel

import services.notify.models  # noqa: F401  (registers the tables)
from kernel.migrations import run_env

run_env("notify", SQLModel.metadata)
