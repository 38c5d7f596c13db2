"""Which Fellegi-Sunter parameters score a pair: the newest a batch run stored, else the packaged default."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

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


async def current_model(session: AsyncSession) -> Model:
    """The newest stored model, unless it was learned with other comparison levels than these."""
    row = await MatchingRepository(session).latest_model()
    if row is None:
        return default_model()
    model = Model.from_json(json.dumps(row["model"]))
    return model if model.fits() else default_model()
