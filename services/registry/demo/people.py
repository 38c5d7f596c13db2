"""A synthetic population: realistic households for any area code, deterministic per seed.

Bangladesh areas get Bengali names (with Latin spellings), India areas Hindi names in
Devanagari.  Families have a head, usually a spouse, children born when the mother was 18-42,
sometimes an elderly parent; about one household in eight is headed by a woman alone.
Pregnancy and disability occur at low, plausible rates.  Identifiers are valid by the
registry's rules (Aadhaar with its Verhoeff digit; BD NID 10/13/17 and 17-digit BRN whose year
prefix is the birth year) and unique within a seed: their serials are a bijective scramble of
(seed, household, member), so there are no accidental duplicates.  Phones are E.164.

Deliberate duplicates, on request (``reregistered_every``): after every n-th household, one of its
adults again, as another survey would list them: alone in a household of their own, the name and the
father's name in Latin letters with an honorific added or dropped, an age guessed to the year, and no
identifier or phone.  The registry's matcher should find each (the demo's duplicates queue shows them).

Rows use the import template's English column keys (``rules/imports.py``), so they can be
written as a CSV for ``POST /imports`` or loaded directly through the import fast path.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import IO

from services.registry.demo import names as pool
from services.registry.rules.identifiers import verhoeff_check_digit
from services.registry.rules.imports import template_headers

Row = dict[str, str]
_BN_DIGITS = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")
_DEV_DIGITS = str.maketrans("0123456789", "०१२३४५६७८९")
# Mobile prefixes valid for libphonenumber (checked by the tests).
_IN_MOBILE = ("98", "97", "94", "99", "93", "70", "81", "88", "90", "91", "95", "96", "89", "78", "63")
_BD_MOBILE = ("13", "14", "15", "16", "17", "18", "19")
_BBOX = {"BD": ((21.8, 25.5), (88.1, 92.5)), "IN": ((21.2, 26.8), (74.1, 82.8))}
_MEMBER_SLOTS = 16  # member indexes per household in the serial space


def _scramble(index: int, modulus: int, multiplier: int) -> int:
    """A bijection on [0, modulus) (``modulus`` a power of ten, ``multiplier`` coprime to it): distinct
    indexes give distinct, random-looking serials.  Multiply, reverse the digits, multiply again."""
    width = len(str(modulus)) - 1
    first = (index * multiplier + 12345) % modulus
    return (int(f"{first:0{width}d}"[::-1]) * multiplier + 54321) % modulus


@dataclass
class Person:
    role: str
    sex: str
    age_days: int
    name: tuple[str, str]
    father: str = ""
    mother: str = ""
    fields: Row = field(default_factory=dict)


class PopulationGenerator:
    """Households for one seed.  ``households(area, n)`` continues the numbering across calls."""

    def __init__(self, seed: int = 1, today: date | None = None) -> None:
        self.seed = seed
        self.today = today or date.today()
        self.rng = random.Random(f"gramsetu-demo:{seed}")
        self.number = 0

    # ---------------------------------------------------------------- households

    def households(self, area_code: str, count: int) -> Iterator[list[Row]]:
        for _ in range(count):
            self.number += 1
            yield self._household(area_code.upper(), self.number)

    def _household(self, area: str, number: int) -> list[Row]:
        country = area.split("-", 1)[0]
        members = self._family(country)
        ref = f"{area}-S{self.seed}-H{number:07d}"
        house = self.rng.randint(1, 400)
        para = self.rng.choice(pool.BD_PARAS if country == "BD" else pool.IN_TOLAS)
        digits = _BN_DIGITS if country == "BD" else _DEV_DIGITS
        word = "বাড়ি" if country == "BD" else "मकान"
        shared: Row = {
            "household_ref": ref, "area_code": area, "address": f"House {house}, {para[1]}",
            "address_local": f"{word} {str(house).translate(digits)}, {para[0]}",
        }
        if self.rng.random() < 0.5:
            (lat0, lat1), (lon0, lon1) = _BBOX[country]
            shared["latitude"] = f"{self.rng.uniform(lat0, lat1):.6f}"
            shared["longitude"] = f"{self.rng.uniform(lon0, lon1):.6f}"
        rows = []
        for index, person in enumerate(members, start=1):
            fields = self._person_fields(country, area, person, number * _MEMBER_SLOTS + index)
            rows.append({**shared, "member_no": str(index), "role": person.role, **fields})
        return rows

    def _family(self, country: str) -> list[Person]:
        rng = self.rng
        hindu = country == "BD" and rng.random() < 0.1
        surname = rng.choice(pool.BD_HINDU_SURNAMES if hindu else pool.BD_SURNAMES) if country == "BD" \
            else rng.choice(pool.IN_SURNAMES)
        woman_headed = rng.random() < 0.12
        head_age = rng.randint(24, 72)
        head_sex = "female" if woman_headed else "male"
        head = Person("head", head_sex, self._days(head_age), self._name(country, head_sex, surname, hindu))
        head.father, head.mother = self._parents(country, surname, hindu)
        family = [head]
        mother: Person | None = head if woman_headed else None
        if not woman_headed and rng.random() < 0.92:
            wife_age = max(18, head_age - rng.randint(2, 10))
            mother = Person("spouse", "female", self._days(wife_age), self._name(country, "female", surname, hindu))
            mother.father, mother.mother = self._parents(country, rng.choice(pool.BD_SURNAMES if country == "BD"
                                                                             else pool.IN_SURNAMES), hindu)
            family.append(mother)
        if mother is not None:
            family.extend(self._children(country, surname, hindu, head, mother))
        if head_age < 55 and rng.random() < 0.2:
            parent_sex = "female" if rng.random() < 0.65 else "male"
            parent_age = min(95, head_age + rng.randint(20, 32))
            local = head.mother if parent_sex == "female" else head.father
            parent = Person("parent", parent_sex, self._days(parent_age), (local, _latin_for(local)))
            family.append(parent)
        return family

    def _children(self, country: str, surname: tuple[str, str], hindu: bool, head: Person,
                  mother: Person) -> list[Person]:
        rng = self.rng
        mother_age = mother.age_days // 365
        wanted = rng.choice((0, 1, 2, 2, 3, 3, 3, 4, 4, 5)) if mother_age >= 19 else 0
        used: set[str] = set()
        children = []
        father = head if head.sex == "male" else None
        for _ in range(wanted):
            age = mother_age - rng.randint(18, 42)
            if age < 0 or (age > 22 and rng.random() < 0.7):
                continue  # not born yet, or grown up and moved out (married, migrated)
            sex = "male" if rng.random() < 0.51 else "female"
            name = self._name(country, sex, surname, hindu, child=True)
            if name[0] in used:
                continue  # siblings do not share a name
            used.add(name[0])
            child = Person("child", sex, self._days(age), name)
            child.father = father.name[0] if father else ""
            child.mother = mother.name[0]
            children.append(child)
        return children

    def _days(self, age_years: int) -> int:
        return age_years * 365 + self.rng.randint(0, 364)

    def reregistration(self, household: list[Row]) -> list[Row]:
        """One adult of ``household`` registered again by another survey (a one-person household), or
        nothing if it has no adult with a father's name.  Its own random stream, so asking for these
        leaves every other row of the seed unchanged."""
        ref = household[0]["household_ref"]
        rng = random.Random(f"gramsetu-demo-reregistered:{self.seed}:{ref}")
        adults = [r for r in household if r.get("father_name") and "occupation" in r]
        if not adults:
            return []
        person = rng.choice(adults)
        country = person["area_code"].split("-", 1)[0]
        year = int(person["birth_date"][:4]) + rng.choice((-1, 0, 0, 1))
        return [{
            "household_ref": f"{ref}-R", "area_code": person["area_code"], "address": person["address"],
            "member_no": "1", "role": "head", "full_name": _honorific_swapped(person["name_latin"], person["sex"],
                                                                               country, rng),
            "sex": person["sex"], "preferred_language": person["preferred_language"],
            "father_name": _latin_for(person["father_name"]), "birth_date": date(year, 7, 1).isoformat(),
            "birth_date_estimated": "yes", "birth_date_source": "estimated",
        }]

    # ---------------------------------------------------------------- names

    def _name(self, country: str, sex: str, surname: tuple[str, str], hindu: bool,
              *, child: bool = False) -> tuple[str, str]:
        rng = self.rng
        if country == "IN":
            first = rng.choice(pool.IN_MALE if sex == "male" else pool.IN_FEMALE)
            return f"{first[0]} {surname[0]}", f"{first[1]} {surname[1]}"
        if hindu:
            first = rng.choice(pool.BD_HINDU_MALE if sex == "male" else pool.BD_HINDU_FEMALE)
            return f"{first[0]} {surname[0]}", f"{first[1]} {surname[1]}"
        if sex == "female":
            first = rng.choice(pool.BD_FEMALE)
            suffix = rng.choice(pool.BD_FEMALE_SUFFIX)
            return f"{first[0]} {suffix[0]}", f"{first[1]} {suffix[1]}"
        first = rng.choice(pool.BD_MALE)
        local, latin = first
        if rng.random() < 0.6:
            local, latin = f"{local} {surname[0]}", f"{latin} {surname[1]}"
        if not child and rng.random() < 0.4:
            local, latin = f"মোঃ {local}", f"Md. {latin}"
        return local, latin

    def _parents(self, country: str, surname: tuple[str, str], hindu: bool) -> tuple[str, str]:
        return (self._name(country, "male", surname, hindu)[0],
                self._name(country, "female", surname, hindu)[0])

    # ---------------------------------------------------------------- one person's columns

    def _person_fields(self, country: str, area: str, person: Person, serial: int) -> Row:
        rng = self.rng
        born = self.today - timedelta(days=person.age_days)
        age = person.age_days // 365
        index = self.seed * 50_000_000 + serial
        fields: Row = {"full_name": person.name[0], "name_latin": person.name[1], "sex": person.sex,
                       "preferred_language": "bn" if country == "BD" else "hi"}
        if person.father:
            fields["father_name"] = person.father
        if person.mother:
            fields["mother_name"] = person.mother
        exact = self._identifiers(country, area, age, born, index, fields)
        if exact is None and age >= 50 and rng.random() < 0.7:
            fields.update(birth_date=date(born.year, 7, 1).isoformat(), birth_date_estimated="yes",
                          birth_date_source="estimated")
        else:
            fields.update(birth_date=born.isoformat(), birth_date_source=exact or "self_declared")
        if age >= 18:
            fields["occupation"] = rng.choice(pool.BD_OCCUPATIONS if country == "BD" else pool.IN_OCCUPATIONS)
            if person.sex == "female" and person.role in ("head", "spouse") and age <= 40 and rng.random() < 0.06:
                fields["pregnant"] = "yes"
            if age <= 70 and rng.random() < 0.7:
                fields["phone"] = self._phone(country)
        if rng.random() < (0.08 if age >= 60 else 0.02):
            fields["disability"] = rng.choice(pool.DISABILITIES)
        return fields

    def _identifiers(self, country: str, area: str, age: int, born: date, index: int, fields: Row) -> str | None:
        """Fill the ID columns; returns the DOB source when an ID fixes the exact date."""
        rng = self.rng
        if country == "IN":
            if rng.random() < (0.95 if age >= 18 else 0.7 if age >= 5 else 0.4):
                body = f"{2 + self.seed % 8}{_scramble(index, 10**10, 7_777_777_777):010d}"
                fields["aadhaar"] = body + verhoeff_check_digit(body)
            if age >= 18 and rng.random() < 0.65:
                letters = "".join(chr(65 + (index // 26**i) % 26) for i in range(3))
                fields["voter_id"] = f"{letters}{_scramble(index, 10**7, 3_333_331):07d}"
            if fields.get("aadhaar") and rng.random() < 0.6:
                return "aadhaar"
            return None
        district = ([*area.split("-"), "", "", ""])[2] or "26"
        source = None
        if age >= 18:
            kind = rng.random()
            if kind < 0.45:
                fields["bd_nid"] = f"{1 + self.seed % 9}{_scramble(index, 10**9, 987_654_321):09d}"
            elif kind < 0.8:
                fields["bd_nid"] = f"{born.year}{district[:2]:0>2}1{_scramble(index, 10**10, 1_234_567_891):010d}"
                source = "nid"
            else:
                fields["bd_nid"] = f"{district[:2]:0>2}1{_scramble(index, 10**10, 1_234_567_891):010d}"
        if rng.random() < (0.85 if age < 18 else 0.25):
            fields["bd_brn"] = f"{born.year}{district[:2]:0>2}{_scramble(index, 10**11, 13_579_135_791):011d}"
            source = source or "brn"
        return source

    def _phone(self, country: str) -> str:
        rng = self.rng
        if country == "BD":
            return f"+8801{rng.choice(_BD_MOBILE)[1]}{rng.randint(0, 99_999_999):08d}"
        return f"+91{rng.choice(_IN_MOBILE)}{rng.randint(0, 99_999_999):08d}"


def _honorific_swapped(latin: str, sex: str, country: str, rng: random.Random) -> str:
    """The Latin name as another list writes it: an honorific dropped, added or exchanged
    ("Md. Abdul Karim" and "Abdul Karim"; "Rokeya Begum" and "Mst. Rokeya Khatun"; "Smt. Sunita Yadav")."""
    parts = latin.split()
    if country == "BD" and sex == "female" and parts[-1] in ("Begum", "Khatun", "Bibi"):
        parts[-1] = rng.choice([s for s in ("Begum", "Khatun", "Bibi") if s != parts[-1]])
        return " ".join(["Mst.", *parts])
    if parts[0] in ("Md.", "Mst."):
        return " ".join(parts[1:])
    if country == "BD":
        return " ".join(["Md." if sex == "male" else "Mst.", *parts])
    return " ".join(["Sri" if sex == "male" else "Smt.", *parts])


def _latin_for(local: str) -> str:
    """The Latin spelling of a name composed from the pools (a grandparent's name, known only locally)."""
    return " ".join(_spellings().get(part, part) for part in local.split())


@lru_cache(maxsize=1)
def _spellings() -> dict[str, str]:
    groups = (pool.BD_MALE, pool.BD_FEMALE, pool.BD_HINDU_MALE, pool.BD_HINDU_FEMALE, pool.BD_SURNAMES,
              pool.BD_HINDU_SURNAMES, pool.BD_FEMALE_SUFFIX, pool.IN_MALE, pool.IN_FEMALE, pool.IN_SURNAMES)
    out = {word: latin_word for group in groups for local, latin in group
           for word, latin_word in zip(local.split(), latin.split(), strict=False)}
    out["মোঃ"] = "Md."
    return out


# ---------------------------------------------------------------- files


def generate(areas: Sequence[str], *, households: int | None = None, persons: int | None = None,
             seed: int = 1, today: date | None = None, reregistered_every: int = 0) -> Iterator[Row]:
    """Rows for ``households`` households (or until at least ``persons`` rows), spread round-robin over ``areas``.
    ``reregistered_every`` = n > 0: after every n-th household, one of its adults registered again
    (:meth:`PopulationGenerator.reregistration`; not counted in ``households``)."""
    if not areas:
        raise ValueError("at least one area code is needed")
    generator = PopulationGenerator(seed, today)
    made_households = made_persons = 0
    while True:
        if households is not None and made_households >= households:
            return
        if persons is not None and made_persons >= persons:
            return
        if households is None and persons is None:
            return
        area = areas[made_households % len(areas)]
        for rows in generator.households(area, 1):
            made_households += 1
            made_persons += len(rows)
            yield from rows
            if reregistered_every > 0 and made_households % reregistered_every == 0:
                yield from generator.reregistration(rows)


def write_csv(out: IO[str], rows: Iterator[Row], lang: str = "en") -> int:
    """Write rows under the template's column names in ``lang``; returns the number of rows."""
    keys = template_headers("en")
    writer = csv.writer(out)
    writer.writerow(template_headers(lang))
    count = 0
    for row in rows:
        writer.writerow([row.get(k, "") for k in keys])
        count += 1
    return count


def write_csv_file(path: Path, rows: Iterator[Row], lang: str = "en") -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as out:
        return write_csv(out, rows, lang)
