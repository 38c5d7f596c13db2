import gateway.models
from kernel.migrations import run_env

run_env("gateway", gateway.models.metadata)
