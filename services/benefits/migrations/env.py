from sqlmodel import SQLModel

import services.benefits.models  # noqa: F401  (registers the tables)
from kernel.migrations import run_env

run_env("benefits", SQLModel.metadata)
