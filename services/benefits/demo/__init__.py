"""Benefits demo data for ``gramsetu up``: departments of both countries and their schemes (names in
English, Hindi or Bengali; the PDS ration and the community-clinic check-up also described in all
three), with eligibility and exclusivity rules: cash, in-kind and service schemes.  Ledger entries are not made up
here: the registry's demo persons reach benefits through its events a moment later, and a demo entry
is then one ``POST /benefits/entries`` away (README)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kernel.settings import Settings

DEPARTMENTS: list[dict[str, Any]] = [
    {"code": "BD-DSS", "country": "BD", "names": {"en": "Department of Social Services", "bn": "সমাজসেবা অধিদফতর"},
     "posters": ["demo-admin"]},
    {"code": "BD-DDM", "country": "BD", "names": {"en": "Department of Disaster Management",
                                                  "bn": "দুর্যোগ ব্যবস্থাপনা অধিদপ্তর"}, "posters": ["demo-admin"]},
    {"code": "IN-WCD", "country": "IN", "names": {"en": "Women and Child Development", "hi": "महिला एवं बाल विकास"},
     "posters": ["demo-admin"]},
    {"code": "IN-RD", "country": "IN", "names": {"en": "Rural Development", "hi": "ग्रामीण विकास"},
     "posters": ["demo-admin"]},
    {"code": "IN-AGRI", "country": "IN", "names": {"en": "Agriculture and Farmers Welfare",
                                                   "hi": "कृषि एवं किसान कल्याण"}, "posters": ["demo-admin"]},
    {"code": "IN-FCS", "country": "IN", "names": {"en": "Food and Civil Supplies", "hi": "खाद्य एवं नागरिक आपूर्ति",
                                                  "bn": "খাদ্য ও সরবরাহ"}, "posters": ["demo-admin"]},
    {"code": "BD-DGHS", "country": "BD", "names": {"en": "Directorate General of Health Services",
                                                   "bn": "স্বাস্থ্য অধিদপ্তর"}, "posters": ["demo-admin"]},
]
HOLD = {"on_conflict": "hold", "unknown_person": "hold"}


def _cash(code: str, dept: str, names: dict[str, str], amount: int, currency: str, frequency: str,
          areas: list[str], eligibility: dict[str, Any], exclusivity: dict[str, Any] | None = None,
          policy: dict[str, str] | None = None, beneficiary: str = "person") -> dict[str, Any]:
    return {"code": code, "department_code": dept, "names": names, "kind": "cash", "beneficiary": beneficiary,
            "amount_minor": amount, "currency": currency, "frequency": frequency, "area_codes": areas,
            "valid_from": "2024-01-01", "rules": {"eligibility": eligibility,
                                                  "exclusivity": exclusivity or {"per_person": True},
                                                  "policy": policy or HOLD}}


SCHEMES: list[dict[str, Any]] = [
    _cash("BD-OAA", "BD-DSS", {"en": "Old Age Allowance", "bn": "বয়স্ক ভাতা"}, 60000, "BDT", "monthly", ["BD"],
          {"all": [{"attr": "age", "op": "ge", "value": 65}]}, {"per_person": True, "not_with": ["BD-WIDOW"]}),
    _cash("BD-WIDOW", "BD-DSS", {"en": "Widow Allowance", "bn": "বিধবা ভাতা"}, 55000, "BDT", "monthly", ["BD"],
          {"all": [{"attr": "sex", "op": "eq", "value": "female"},
                   {"attr": "marital_status", "op": "eq", "value": "widowed"}]},
          policy={"on_conflict": "reject", "unknown_person": "reject"}),
    _cash("BD-DISABILITY", "BD-DSS", {"en": "Disability Allowance", "bn": "প্রতিবন্ধী ভাতা"}, 85000, "BDT", "monthly",
          ["BD"], {"all": [{"attr": "disabled", "op": "eq", "value": True}]}),
    {"code": "BD-VGF", "department_code": "BD-DDM", "names": {"en": "Vulnerable Group Feeding", "bn": "ভিজিএফ"},
     "kind": "kind", "beneficiary": "household", "quantity": 30, "unit": "kg", "frequency": "monthly",
     "area_codes": ["BD-40-87-90"], "valid_from": "2024-01-01",
     "rules": {"exclusivity": {"per_person": True, "per_household": True, "not_with": ["BD-VGD"]}, "policy": HOLD}},
    {"code": "BD-VGD", "department_code": "BD-DDM", "names": {"en": "Vulnerable Group Development", "bn": "ভিজিডি"},
     "kind": "kind", "beneficiary": "household", "quantity": 30, "unit": "kg", "frequency": "monthly",
     "area_codes": ["BD"], "valid_from": "2024-01-01",
     "rules": {"eligibility": {"all": [{"attr": "household_size", "op": "ge", "value": 3}]},
               "exclusivity": {"per_person": True, "per_household": True}, "policy": HOLD}},
    _cash("IN-IGNOAPS", "IN-RD", {"en": "Indira Gandhi National Old Age Pension",
                                   "hi": "इंदिरा गांधी राष्ट्रीय वृद्धावस्था पेंशन"}, 50000, "INR", "monthly", ["IN"],
          {"all": [{"attr": "age", "op": "ge", "value": 60}]}),
    _cash("IN-PMMVY", "IN-WCD", {"en": "Pradhan Mantri Matru Vandana Yojana (maternity benefit)",
                                  "hi": "प्रधानमंत्री मातृ वंदना योजना"}, 500000, "INR", "one_time", ["IN"],
          {"all": [{"attr": "sex", "op": "eq", "value": "female"}, {"attr": "pregnant", "op": "eq", "value": True}]}),
    {"code": "IN-THR", "department_code": "IN-WCD", "names": {"en": "ICDS take-home ration", "hi": "टेक होम राशन"},
     "kind": "kind", "beneficiary": "person", "quantity": 3000, "unit": "g", "frequency": "monthly",
     "area_codes": ["IN"], "valid_from": "2024-01-01",
     "rules": {"eligibility": {"any": [{"attr": "pregnant", "op": "eq", "value": True},
                                       {"attr": "age", "op": "le", "value": 5}]},
               "exclusivity": {"per_person": True}, "policy": HOLD}},
    _cash("IN-PMKISAN", "IN-AGRI", {"en": "PM-KISAN income support", "hi": "पीएम-किसान सम्मान निधि"}, 200000, "INR",
          "quarterly", ["IN"], {"all": []}, {"per_person": False, "per_household": True}, beneficiary="household"),
    # The ration of the Public Distribution System under the National Food Security Act: 35 kg of grain a
    # month for an Antyodaya (AAY) household, from the fair price shop; once per household and month.
    {"code": "IN-PDS", "department_code": "IN-FCS", "kind": "kind", "beneficiary": "household", "quantity": 35,
     "unit": "kg", "frequency": "monthly", "area_codes": ["IN"], "valid_from": "2024-01-01",
     "names": {"en": "Public Distribution System ration (NFSA)", "hi": "सार्वजनिक वितरण प्रणाली राशन (एनएफएसए)",
               "bn": "গণবণ্টন ব্যবস্থার রেশন (এনএফএসএ)"},
     "descriptions": {"en": "35 kg of rice or wheat a month for an Antyodaya household, at the fair price shop.",
                      "hi": "अंत्योदय परिवार को हर महीने 35 किलो चावल या गेहूँ, उचित मूल्य की दुकान से।",
                      "bn": "অন্ত্যোদয় পরিবারের জন্য প্রতি মাসে ৩৫ কেজি চাল বা গম, ন্যায্য মূল্যের দোকান থেকে।"},
     "rules": {"eligibility": {"all": [{"attr": "income_band", "op": "in", "value": ["aay"]}]},
               "exclusivity": {"per_person": True, "per_household": True}, "policy": HOLD}},
    # A service, not a payment: the monthly antenatal check-up at the community clinic, recorded so that a
    # pregnant woman who has missed hers shows on the health assistant's door-to-door list.
    {"code": "BD-ANC", "department_code": "BD-DGHS", "kind": "service", "frequency": "monthly", "area_codes": ["BD"],
     "valid_from": "2024-01-01", "rules": {"eligibility": {"all": [{"attr": "pregnant", "op": "eq", "value": True}]},
                                           "exclusivity": {"per_person": True}, "policy": HOLD},
     "names": {"en": "Antenatal check-up at the community clinic", "bn": "কমিউনিটি ক্লিনিকে গর্ভকালীন সেবা",
               "hi": "सामुदायिक क्लिनिक में प्रसवपूर्व जाँच"},
     "descriptions": {
         "en": "A free check-up every month for a pregnant woman: weight, blood pressure, iron and folic acid.",
         "bn": "গর্ভবতী নারীর জন্য প্রতি মাসে বিনামূল্যে পরীক্ষা: ওজন, রক্তচাপ, আয়রন ও ফলিক অ্যাসিড।",
         "hi": "गर्भवती महिला के लिए हर महीने निःशुल्क जाँच: वज़न, रक्तचाप, आयरन और फ़ोलिक एसिड।"}},
]


async def load_demo(settings: Settings) -> dict[str, int]:
    """Create the demo departments and schemes that do not exist yet (idempotent); the counts created."""
    from kernel.auth import Identity
    from kernel.db import make_engine, make_sessionmaker, transaction
    from services.benefits.repository.catalogue import CatalogueRepository
    from services.benefits.schemas.catalogue import DepartmentIn, SchemeIn
    from services.benefits.service import catalogue

    assert settings.database_url, "load_demo needs a database URL"
    identity = Identity(subject="demo-loader", kind="system", roles=["admin"], scopes=["*"], area_scope=["IN", "BD"])
    engine = make_engine(settings.database_url, pool_size=1, max_overflow=0)
    counts = {"departments": 0, "schemes": 0}
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            for dept in DEPARTMENTS:
                _, created = await catalogue.add_department(session, identity, DepartmentIn.model_validate(dept))
                counts["departments"] += created
            repo = CatalogueRepository(session)
            for scheme in SCHEMES:
                if await repo.scheme(scheme["code"]) is None:
                    await catalogue.add_scheme(session, identity, SchemeIn.model_validate(scheme))
                    counts["schemes"] += 1
    finally:
        await engine.dispose()
    return counts
