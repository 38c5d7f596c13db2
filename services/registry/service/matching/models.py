"""Which Fellegi-Sunter parameters score a pair: the newest a batch run stored, else the packaged default."""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from importlib import resources
from typing import Any

from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession

from services.registry.repository.matching import MatchingRepository
from services.registry.rules.matching.fellegi_sunter import Model

# Below this many records EM has too few pairs to learn from: a small file is scored with the default.
MIN_RECORDS_FOR_EM = 2_000


@lru_cache(maxsize=1)
def default_model() -> Model:
    """The parameters EM learned, without labels, on 50,000 records of the tests' synthetic population
    (seed 1: ``gramsetu registry match --model-out``; docs/matching.md)."""
    text = resources.files("services.registry.rules.matching").joinpath("default_model.json").read_text()
    return Model.from_json(text)


MODEL_VERSION = Gauge("gramsetu_registry_match_model_version",
                      "Version of the matcher model this process scores with (0: the packaged default)")
_LOADED: dict[Any, Model] = {}  # the newest stored model, parsed once per process (it may be megabytes)


async def current_model(session: AsyncSession) -> Model:
    """The newest stored model (a batch run's, or a recalibration from reviewers' decisions), unless it
    was learned with other comparison levels than these: then the packaged default."""
    repo = MatchingRepository(session)
    head = await repo.latest_model_id()
    if head is None:
        return copy.copy(default_model())
    found = _LOADED.get(head)
    if found is None:
        row = await repo.model(head)
        model = Model.from_json(json.dumps(row["model"]))
        found = model if model.fits() else default_model()
        _LOADED.clear()
        _LOADED[head] = found
    MODEL_VERSION.set(found.version)
    return copy.copy(found)  # callers may set the calibration of their copy


async def save_model(session: AsyncSession, model: Model, *, source: str, records: int, comparisons: int) -> int:
    """Store ``model`` as the newest version; its version number (one more than any stored)."""
    repo = MatchingRepository(session)
    await repo.lock_models()
    model.version = await repo.max_version() + 1
    await repo.save_model({"source": source, "records": records, "comparisons": comparisons,
                           "model": json.loads(model.to_json())})
    return model.version
