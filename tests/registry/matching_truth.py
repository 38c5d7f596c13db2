"""A labelled population for the matcher: people in Bangladesh and India whose records are written
in Bengali, Devanagari or Latin script, about one record in ten a second or third record of a person
already listed, with the ways such records differ in the field (script, honorifics, typos, swapped
names, a date of birth against a year against an age guessed at a registration date, 13 ↔ 17-digit
NIDs, phone formats, a move to a sibling ward, a woman's father on one list and her husband on
another) and the people a matcher must keep apart (namesakes in the same union, twins, a son named
after his father).

``generate(n, seed)`` returns CSV-shaped rows (the columns of ``gramsetu registry match``) and, per
row, the person it belongs to.  Different seeds give different people; the quality test evaluates
on a seed the matcher was never run on while it was being tuned.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from services.registry.demo.names import (
    BD_FEMALE,
    BD_HINDU_FEMALE,
    BD_HINDU_MALE,
    BD_HINDU_SURNAMES,
    BD_MALE,
    BD_SURNAMES,
    IN_FEMALE,
    IN_MALE,
    IN_SURNAMES,
)
from services.registry.rules.identifiers import verhoeff_check_digit

Name = tuple[str, str]  # (local script, Latin)
# More names than the demo pools, so that a million people are not a few hundred names.
EXTRA_IN_MALE: tuple[Name, ...] = (
    ("सुरेन्द्र", "Surendra"), ("महेन्द्र", "Mahendra"), ("नरेन्द्र", "Narendra"), ("धर्मेन्द्र", "Dharmendra"),
    ("राजू", "Raju"), ("पप्पू", "Pappu"), ("बबलू", "Bablu"), ("संतोष", "Santosh"), ("अशोक", "Ashok"),
    ("प्रकाश", "Prakash"), ("कैलाश", "Kailash"), ("जगदीश", "Jagdish"), ("बलराम", "Balram"), ("शिवम", "Shivam"),
    ("सचिन", "Sachin"), ("दीपक", "Deepak"), ("पंकज", "Pankaj"), ("नितिन", "Nitin"), ("गौरव", "Gaurav"),
    ("हेमंत", "Hemant"), ("रविन्द्र", "Ravindra"), ("उमेश", "Umesh"), ("योगेश", "Yogesh"), ("भूपेन्द्र", "Bhupendra"),
)
EXTRA_IN_FEMALE: tuple[Name, ...] = (
    ("पुष्पा", "Pushpa"), ("शांति", "Shanti"), ("मंजू", "Manju"), ("सुमन", "Suman"), ("ज्योति", "Jyoti"),
    ("रूपा", "Rupa"), ("सुशीला", "Sushila"), ("निर्मला", "Nirmala"), ("विमला", "Vimla"), ("कमलेश", "Kamlesh"),
    ("संगीता", "Sangeeta"), ("बबीता", "Babita"), ("रचना", "Rachna"), ("सोनी", "Soni"), ("मनीषा", "Manisha"),
)
EXTRA_IN_SURNAMES: tuple[Name, ...] = (
    ("गुप्ता", "Gupta"), ("जाटव", "Jatav"), ("कुर्मी", "Kurmi"), ("पाल", "Pal"), ("राठौर", "Rathore"),
    ("ठाकुर", "Thakur"), ("दुबे", "Dubey"), ("पांडे", "Pandey"), ("मौर्य", "Maurya"), ("निषाद", "Nishad"),
)
EXTRA_BD_FEMALE: tuple[Name, ...] = (
    ("রোকেয়া", "Rokeya"), ("মরিয়ম", "Moriom"), ("আছিয়া", "Asiya"), ("হালিমা", "Halima"), ("সুফিয়া", "Sufia"),
    ("মাহমুদা", "Mahmuda"), ("ফারজানা", "Farzana"), ("শামীমা", "Shamima"), ("জেসমিন", "Jesmin"), ("লাইলী", "Laily"),
    ("আমেনা", "Amena"), ("জোহরা", "Johora"), ("মমতাজ", "Momtaz"), ("নূরজাহান", "Nurjahan"), ("পারুল", "Parul"),
)
BD_FEMALE_SUFFIXES: tuple[Name, ...] = (("বেগম", "Begum"), ("খাতুন", "Khatun"), ("বিবি", "Bibi"))
SPELLINGS = {  # Latin spellings field workers use for one name
    "Hossain": ("Hosen", "Hussain", "Hossen"), "Rahman": ("Rahaman", "Rohman"), "Islam": ("Islaam",),
    "Mohammad": ("Muhammad", "Mohammed"), "Chowdhury": ("Chowdhuri", "Choudhury"), "Laxmi": ("Lakshmi", "Luxmi"),
    "Geeta": ("Gita",), "Pooja": ("Puja",), "Sanjay": ("Sanjai",), "Vijay": ("Bijay",), "Hoque": ("Haque", "Hoq"),
    "Rokeya": ("Rokeia", "Rokaya"), "Fatema": ("Fatima",), "Ayesha": ("Aysha", "Aesha"), "Sheikh": ("Shaikh", "Sk"),
}


@dataclass
class Person:
    pid: int
    country: str
    sex: str
    given: list[Name]
    family: Name | None
    dob: date
    area: str
    guardian: Name | None = None
    relation: str = ""
    father: Name | None = None  # kept for a married woman whose records may name her father instead
    phone: str = ""
    aadhaar: str = ""
    nid: str = ""  # 13 digits
    nid10: str = ""
    brn: str = ""
    muslim: bool = True
    household: str = ""
    natal_household: str = ""  # a married woman's parents' household (her father's list names it)


@dataclass
class Truth:
    rows: list[dict[str, str]] = field(default_factory=list)
    person_of: list[int] = field(default_factory=list)

    def true_pairs(self) -> set[tuple[str, str]]:
        by_person: dict[int, list[str]] = {}
        for row, pid in zip(self.rows, self.person_of, strict=True):
            by_person.setdefault(pid, []).append(row["record_id"])
        return {tuple(sorted((a, b))) for ids in by_person.values() for i, a in enumerate(ids) for b in ids[i + 1:]}  # type: ignore[misc]


def _split(pool: tuple[Name, ...]) -> tuple[list[Name], list[Name]]:
    """First and second parts of two-part names, to recombine into more names."""
    firsts, seconds = [], []
    for local, latin in pool:
        lp, ap = local.split(), latin.split()
        if len(lp) == 2 and len(ap) == 2:
            firsts.append((lp[0], ap[0]))
            seconds.append((lp[1], ap[1]))
    return firsts, seconds


BD_FIRST, BD_SECOND = _split(BD_MALE)
BD_SINGLE = [n for n in BD_MALE if " " not in n[1]]


class Generator:
    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)
        # Households draw from their own stream, so the records' other fields are those of the same seed
        # before households were generated (figures before and after compare the same people).
        self.hrnd = random.Random(seed * 7919 + 1)
        self.next_household = 0
        self.next_pid = 0
        self.serial = seed * 10_000_000
        self.today = date(2026, 11, 1)

    # --- identities -------------------------------------------------------------------------
    def _digits(self, n: int, first: str = "123456789") -> str:
        return self.rnd.choice(first) + "".join(self.rnd.choice("0123456789") for _ in range(n - 1))

    def _aadhaar(self) -> str:
        body = self._digits(11, "23456789")
        return body + verhoeff_check_digit(body)

    def _male_name(self, country: str, muslim: bool) -> list[Name]:
        r = self.rnd
        if country == "IN":
            return [r.choice(IN_MALE + EXTRA_IN_MALE)]
        if not muslim:
            return [r.choice(BD_HINDU_MALE)]
        if r.random() < 0.7:
            return [r.choice(BD_FIRST), r.choice(BD_SECOND)]
        return [r.choice(BD_SINGLE)]

    def _female_name(self, country: str, muslim: bool) -> list[Name]:
        r = self.rnd
        if country == "IN":
            return [r.choice(IN_FEMALE + EXTRA_IN_FEMALE)]
        return [r.choice(BD_FEMALE + EXTRA_BD_FEMALE if muslim else BD_HINDU_FEMALE)]

    def _new_name(self, sex: str, country: str, muslim: bool, taken: list[list[Name]]) -> list[Name]:
        """A child's name none of the household has (parents do not give two children one name)."""
        given = taken[0]
        for _ in range(30):
            given = self._male_name(country, muslim) if sex == "male" else self._female_name(country, muslim)
            if given not in taken:
                break
        return given

    def _surname(self, country: str, muslim: bool) -> Name:
        if country == "IN":
            return self.rnd.choice(IN_SURNAMES + EXTRA_IN_SURNAMES)
        return self.rnd.choice(BD_SURNAMES if muslim else BD_HINDU_SURNAMES)

    def _person(self, country: str, sex: str, given: list[Name], family: Name | None, dob: date, area: str,
                muslim: bool) -> Person:
        self.next_pid += 1
        p = Person(self.next_pid, country, sex, given, family, dob, area, muslim=muslim)
        age = (self.today - dob).days // 365
        if country == "IN" and self.rnd.random() < 0.9:
            p.aadhaar = self._aadhaar()
        if country == "BD" and age >= 18:
            if self.rnd.random() < 0.85:
                p.nid = self._digits(13)
            elif self.rnd.random() < 0.5:
                p.nid10 = self._digits(10)
        if country == "BD" and age < 18 and self.rnd.random() < 0.8:
            p.brn = f"{dob.year}" + self._digits(13)
        return p

    def _household(self) -> str:
        self.next_household += 1
        return f"H{self.serial + self.next_household}"

    def _dob(self, low: int, high: int) -> date:
        return self.today - timedelta(days=self.rnd.randint(low * 365, high * 365))

    def family(self, country: str, area: str) -> list[Person]:
        """A household: a couple and their children (twins sometimes, a son named after his father sometimes)."""
        r = self.rnd
        muslim = country == "BD" and r.random() < 0.85
        surname = self._surname(country, muslim)
        grandfather = (self._male_name(country, muslim), surname)
        father = self._person(country, "male", self._male_name(country, muslim), surname, self._dob(25, 70), area,
                              muslim)
        father.guardian, father.relation = _full(grandfather[0], grandfather[1]), "father"
        wife_family: Name | None = (r.choice((*BD_FEMALE_SUFFIXES, ("আক্তার", "Akter"))) if muslim
                                    else (surname if country == "IN" or r.random() < 0.7 else None))
        mother = self._person(country, "female", self._female_name(country, muslim), wife_family,
                              father.dob + timedelta(days=r.randint(-10 * 365, 2 * 365)), area, muslim)
        if mother.dob > self.today - timedelta(days=18 * 365):
            mother.dob = self.today - timedelta(days=20 * 365)
        mother.guardian, mother.relation = _full(father.given, father.family), "husband"
        wife_father = self._male_name(country, muslim)
        mother.father = _full(wife_father, self._surname(country, muslim))
        phone = ("01" + self._digits(9, "3456789")) if country == "BD" else self._digits(10, "6789")
        people = [father, mother]
        oldest = max(father.dob, mother.dob) + timedelta(days=18 * 365)
        for _ in range(r.choice((0, 1, 2, 2, 3, 3, 4))):
            if oldest >= self.today:
                break
            sex = r.choice(("male", "female"))
            dob = oldest + timedelta(days=r.randint(0, max((self.today - oldest).days, 1)))
            given = self._new_name(sex, country, muslim, [p.given for p in people])
            if sex == "male" and r.random() < 0.05:
                given = list(father.given)  # named after his father: a hard negative
            fam = surname if sex == "male" or country == "IN" else wife_family
            child = self._person(country, sex, given, fam, dob, area, muslim)
            child.guardian, child.relation = _full(father.given, father.family), "father"
            people.append(child)
            if r.random() < 0.03:  # twins: same parents, date, family name; another given name
                sex2 = r.choice(("male", "female"))
                given2 = self._new_name(sex2, country, muslim, [p.given for p in people])
                twin = self._person(country, sex2, given2, surname if sex2 == "male" or country == "IN" else wife_family,
                                    dob, area, muslim)
                twin.guardian, twin.relation = child.guardian, "father"
                people.append(twin)
        for p in people:
            if (self.today - p.dob).days >= 18 * 365 and r.random() < 0.8:
                p.phone = phone
        household = self._household()  # twins and a son named after his father share it too
        for p in people:
            p.household = household
        mother.natal_household = self._household()
        return people

    def namesake(self, of: Person, area: str) -> Person:
        """Another person with the same name in the same union: different parents and birth date."""
        muslim = of.muslim
        p = self._person(of.country, of.sex, list(of.given), of.family, self._dob(18, 70), area, muslim)
        p.guardian, p.relation = _full(self._male_name(of.country, muslim), self._surname(of.country, muslim)), "father"
        if self.rnd.random() < 0.6:
            p.phone = ("01" + self._digits(9, "3456789")) if of.country == "BD" else self._digits(10, "6789")
        p.household = self._household()
        return p

    # --- records ----------------------------------------------------------------------------
    def record(self, p: Person, variant: bool) -> dict[str, str]:
        r = self.rnd
        local = r.random() < (0.5 if variant else 0.6)
        given = " ".join(self._spell(n, local, variant) for n in p.given)
        family = self._spell(p.family, local, variant) if p.family else ""
        given, family = self._honorifics(p, given, family, local, variant)
        if variant and r.random() < 0.08:
            given, family = family or given, given if family else ""
        guardian, relation = p.guardian, p.relation
        if variant and p.father is not None and r.random() < 0.3:
            guardian, relation = p.father, "father"
        row = {
            "given_name": given, "family_name": family,
            "guardian_name": "" if guardian is None or r.random() < 0.12 else (guardian[0] if local else guardian[1]),
            "guardian_relation": relation, "sex": "" if r.random() < 0.03 else p.sex,
            "area_code": p.area if not variant or r.random() < 0.8 else _sibling(p.area, r),
            "phone": self._phone(p.phone, local) if p.phone and r.random() < (0.6 if variant else 0.8) else "",
            "aadhaar": p.aadhaar if p.aadhaar and r.random() < (0.5 if variant else 0.8) else "",
            "nid": self._nid(p, variant), "brn": p.brn if p.brn and r.random() < (0.5 if variant else 0.8) else "",
        }
        row.update(self._birth(p, variant))
        row["household"] = self._household_of(p, variant, named_father=guardian is p.father and p.father is not None)
        return row

    def _household_of(self, p: Person, variant: bool, named_father: bool) -> str:
        """The household reference a list gives: not every list has one; a married woman's record that
        names her father was written in her parents' household; a person re-listed has sometimes moved,
        married or seen the household split (another household)."""
        h = self.hrnd
        if h.random() >= (0.55 if variant else 0.7):
            return ""
        if named_father and p.natal_household:
            return p.natal_household
        if variant and h.random() < 0.1:
            return self._household()
        return p.household

    def _spell(self, name: Name, local: bool, variant: bool) -> str:
        if local:
            return name[0]
        latin = name[1]
        if variant and latin in SPELLINGS and self.rnd.random() < 0.5:
            latin = self.rnd.choice(SPELLINGS[latin])
        if variant and self.rnd.random() < 0.12:
            latin = _typo(latin, self.rnd)
        return latin

    def _honorifics(self, p: Person, given: str, family: str, local: bool, variant: bool) -> tuple[str, str]:
        r = self.rnd
        if r.random() > (0.45 if variant else 0.25):
            return given, family
        if p.country == "BD" and p.muslim:
            if p.sex == "male":
                return (r.choice(("মোঃ", "মোহাম্মদ")) if local else r.choice(("Md.", "Mohammad", "Md"))) + " " + given, family
            if family and family in ("বেগম", "খাতুন", "বিবি", "Begum", "Khatun", "Bibi"):
                family = r.choice(BD_FEMALE_SUFFIXES)[0 if local else 1]
            return (r.choice(("মোসাম্মৎ", "মোছাঃ")) if local else r.choice(("Mst.", "Mosammat"))) + " " + given, family
        if p.sex == "male":
            prefix = ("শ্রী" if p.country == "BD" else "श्री") if local else r.choice(("Sri", "Shri"))
            middle = " " + ("कुमार" if local else r.choice(("Kumar", "Kr."))) if p.country == "IN" and r.random() < 0.5 else ""
            return prefix + " " + given + middle, family
        prefix = ("শ্রীমতী" if p.country == "BD" else "श्रीमती") if local else "Smt."
        suffix = " " + ("देवी" if local else "Devi") if p.country == "IN" and r.random() < 0.5 else ""
        return prefix + " " + given + suffix, family

    def _phone(self, phone: str, local: bool) -> str:
        r = self.rnd.random()
        cc = "+880" if phone.startswith("01") else "+91"
        if r < 0.3:
            return cc + phone.lstrip("0")
        if r < 0.4:
            return phone[:5] + "-" + phone[5:]
        if r < 0.5 and local and phone.startswith("01"):
            return phone.translate(str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯"))
        return phone

    def _nid(self, p: Person, variant: bool) -> str:
        r = self.rnd
        if p.nid10 and r.random() < 0.7:
            return p.nid10
        if not p.nid or r.random() < (0.45 if variant else 0.2):
            return ""
        return f"{p.dob.year}{p.nid}" if r.random() < (0.5 if variant else 0.3) else p.nid

    def _birth(self, p: Person, variant: bool) -> dict[str, str]:
        r = self.rnd
        out = {"dob": "", "birth_year": "", "age_estimate": "", "registered_on": ""}
        dob = p.dob
        if variant and r.random() < 0.04:  # re-registered older or younger
            dob = date(dob.year + r.choice((-3, -2, -1, 1, 2)), dob.month, min(dob.day, 28))
        how = r.random()
        if how < (0.5 if variant else 0.65):
            out["dob"] = dob.isoformat()
        elif how < 0.75:
            out["birth_year"] = str(dob.year)
        elif how < 0.95:
            registered = self.today - timedelta(days=r.randint(0, 8 * 365))
            age = (registered - dob).days // 365
            if age < 1:
                out["dob"] = dob.isoformat()
                return out
            noise = r.choice((0, 0, 0, 1, -1, 2, -2)) if age > 12 else 0
            out["age_estimate"], out["registered_on"] = str(max(age + noise, 0)), registered.isoformat()
        return out


def _full(given: list[Name], family: Name | None) -> Name:
    parts = [*given, *([family] if family else [])]
    return " ".join(n[0] for n in parts), " ".join(n[1] for n in parts)


def _typo(text: str, rnd: random.Random) -> str:
    if len(text) < 4:
        return text
    i = rnd.randint(1, len(text) - 2)
    kind = rnd.random()
    if kind < 0.33:
        return text[:i] + text[i + 1:]
    if kind < 0.66:
        return text[:i] + text[i] + text[i:]
    return text[:i] + rnd.choice("aeiou") + text[i + 1:]


def _sibling(area: str, rnd: random.Random) -> str:
    head, ward = area.rsplit("-", 1)
    return f"{head}-{(int(ward) % 6) + 1:02d}" if rnd.random() < 0.9 else area


def _areas(country: str, union: int) -> list[str]:
    if country == "BD":
        head = f"BD-{10 + union % 7 * 10:02d}-{union // 7 % 64 + 1:02d}-{union // 448 % 90 + 1:02d}-{union % 97 + 1:02d}"
    else:
        head = f"IN-{9 + union % 5:02d}-{union // 5 % 70 + 100:03d}-{union // 350 % 900 + 1000:04d}-{union % 997 + 10000:06d}"
    return [f"{head}-{w:02d}" for w in range(1, 7)]


def people(n: int, seed: int) -> Iterator[tuple[Person, str]]:
    """About ``n`` people with the union each lives in (families, plus namesakes in the same union)."""
    gen = Generator(seed)
    made, union = 0, 0
    while made < n:
        country = "BD" if union % 2 == 0 else "IN"
        wards = _areas(country, union + seed * 100_000)
        local: list[Person] = []
        while len(local) < 1800 and made + len(local) < n:
            local.extend(gen.family(country, gen.rnd.choice(wards)))
            if gen.rnd.random() < 0.08 and local:
                local.append(gen.namesake(gen.rnd.choice(local), gen.rnd.choice(wards)))
        for p in local:
            yield p, wards[0]
        made += len(local)
        union += 1
    yield from ()


def generate(n: int, seed: int, duplicate_share: float = 0.10) -> Truth:
    """About ``n`` records (people plus their repeated records), labelled with the person."""
    gen = Generator(seed + 1)
    truth = Truth()
    persons = n / (1 + duplicate_share * 1.2)
    for person, _ in people(int(persons), seed):
        copies = 1
        roll = gen.rnd.random()
        if roll < duplicate_share * 0.8 / 0.99:
            copies = 2
        elif roll < duplicate_share:
            copies = 3
        for k in range(copies):
            row = gen.record(person, variant=k > 0)
            row["record_id"] = f"r{len(truth.rows)}"
            truth.rows.append(row)
            truth.person_of.append(person.pid)
    order = list(range(len(truth.rows)))
    gen.rnd.shuffle(order)
    truth.rows = [truth.rows[i] for i in order]
    truth.person_of = [truth.person_of[i] for i in order]
    return truth
