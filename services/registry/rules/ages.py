"""Ages and the legal-age check for marriage registration (BD and IN: 18 for women, 21 for men)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum

LEGAL_MARRIAGE_AGE: dict[str, dict[str, int]] = {
    "BD": {"female": 18, "male": 21},
    "IN": {"female": 18, "male": 21},
}
ESTIMATE_MARGIN_YEARS = 2  # an estimated DOB is trusted only to within this many years


class Answer(str, Enum):
    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"


def age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


@dataclass(frozen=True)
class AgeEvidence:
    """What is known about a birth date and where it came from."""

    birth_date: date | None
    estimated: bool
    source: str  # e.g. "brn", "nid", "birth_certificate", "self_declared"
    id_birth_year: int | None = None  # year prefix of a 17-digit BRN/NID
    id_source: str | None = None

    def age_bounds(self, today: date) -> tuple[int, int] | None:
        """(youngest possible, oldest possible) age in whole years, or None if nothing is known."""
        if self.birth_date is not None and not self.estimated:
            age = age_on(self.birth_date, today)
            return age, age
        if self.id_birth_year is not None:
            age = today.year - self.id_birth_year
            return age - 1, age
        if self.birth_date is not None:
            age = age_on(self.birth_date, today)
            return age - ESTIMATE_MARGIN_YEARS, age + ESTIMATE_MARGIN_YEARS
        return None

    def describe(self) -> str:
        if self.birth_date is not None and not self.estimated:
            return f"DOB from {self.source}, exact"
        if self.id_birth_year is not None:
            return f"birth year from {self.id_source}, year only"
        if self.birth_date is not None:
            return f"DOB estimated ({self.source}), ±{ESTIMATE_MARGIN_YEARS} years"
        return "no date of birth recorded"


def legal_age(country: str, sex: str) -> int | None:
    return LEGAL_MARRIAGE_AGE.get(country, {}).get(sex)


def check_legal_age(evidence: AgeEvidence, *, country: str, sex: str, today: date) -> tuple[Answer, int | None]:
    threshold = legal_age(country, sex)
    bounds = evidence.age_bounds(today)
    if threshold is None or bounds is None:
        return Answer.UNKNOWN, threshold
    youngest, oldest = bounds
    if youngest >= threshold:
        return Answer.YES, threshold
    if oldest < threshold:
        return Answer.NO, threshold
    return Answer.UNKNOWN, threshold
