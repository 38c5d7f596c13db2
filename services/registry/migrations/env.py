from sqlmodel import SQLModel

import services.registry.models  # noqa: F401  (registers the tables)
from kernel.migrations import run_env

run_env("registry", SQLModel.metadata)
