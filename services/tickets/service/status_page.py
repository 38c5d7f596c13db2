"""The public status page by tracking number: server-rendered HTML, no JavaScript, en/hi/bn.

It shows what the reporter may know: the status, the level and desk holding the ticket, the
deadline in the desk's time zone, and the public timeline.  Internal notes, agent names, phone
numbers and the description are never on it (a tracking number can be overheard).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

LANGUAGES = ("hi", "bn", "en")
TEXT: dict[str, dict[str, str]] = {
    "en": {"title": "Ticket status", "number": "Tracking number", "status": "Status", "level": "Now with",
           "deadline": "Expected resolution by", "paused": "Waiting for your reply (the clock is paused)",
           "timeline": "What has happened", "none": "No ticket has this tracking number. Check the number on your SMS.",
           "category": "Type", "lang": "Language", "raised": "Registered"},
    "hi": {"title": "शिकायत की स्थिति", "number": "ट्रैकिंग नंबर", "status": "स्थिति", "level": "अभी यहाँ",
           "deadline": "समाधान की अपेक्षित तिथि", "paused": "आपके उत्तर की प्रतीक्षा (समय रुका हुआ है)",
           "timeline": "अब तक क्या हुआ", "none": "इस ट्रैकिंग नंबर का कोई टिकट नहीं है। अपने SMS में नंबर जाँचें।",
           "category": "प्रकार", "lang": "भाषा", "raised": "दर्ज"},
    "bn": {"title": "অভিযোগের অবস্থা", "number": "ট্র্যাকিং নম্বর", "status": "অবস্থা", "level": "এখন যেখানে",
           "deadline": "সমাধানের প্রত্যাশিত সময়", "paused": "আপনার উত্তরের অপেক্ষায় (সময় থেমে আছে)",
           "timeline": "এ পর্যন্ত যা হয়েছে", "none": "এই ট্র্যাকিং নম্বরে কোনো টিকিট নেই। আপনার SMS-এ নম্বরটি দেখুন।",
           "category": "ধরন", "lang": "ভাষা", "raised": "নথিভুক্ত"},
}
STATUS: dict[str, dict[str, str]] = {
    "new": {"en": "Registered", "hi": "दर्ज", "bn": "নথিভুক্ত"},
    "assigned": {"en": "Assigned to an officer", "hi": "अधिकारी को सौंपा गया", "bn": "কর্মকর্তাকে দেওয়া হয়েছে"},
    "in_progress": {"en": "Being worked on", "hi": "कार्रवाई जारी", "bn": "কাজ চলছে"},
    "waiting_on_reporter": {"en": "Waiting for your reply", "hi": "आपके उत्तर की प्रतीक्षा", "bn": "আপনার উত্তরের অপেক্ষায়"},
    "resolved": {"en": "Resolved", "hi": "समाधान हुआ", "bn": "সমাধান হয়েছে"},
    "closed": {"en": "Closed", "hi": "बंद", "bn": "বন্ধ"},
    "reopened": {"en": "Reopened", "hi": "फिर से खोला गया", "bn": "আবার খোলা হয়েছে"},
    "escalated": {"en": "Sent to a higher level", "hi": "उच्च स्तर पर भेजा गया", "bn": "উচ্চ স্তরে পাঠানো হয়েছে"},
}
LEVEL: dict[str, dict[str, str]] = {
    "block": {"en": "Block help desk", "hi": "ब्लॉक हेल्पडेस्क", "bn": "ব্লক হেল্পডেস্ক"},
    "district": {"en": "District help desk", "hi": "ज़िला हेल्पडेस्क", "bn": "জেলা হেল্পডেস্ক"},
    "state": {"en": "State help desk", "hi": "राज्य हेल्पडेस्क", "bn": "রাজ্য হেল্পডেস্ক"},
    "upazila": {"en": "Upazila help desk", "hi": "उपज़िला हेल्पडेस्क", "bn": "উপজেলা হেল্পডেস্ক"},
    "division": {"en": "Division help desk", "hi": "संभाग हेल्पडेस्क", "bn": "বিভাগ হেল্পডেস্ক"},
}
EVENT: dict[str, dict[str, str]] = {
    "created": {"en": "Registered", "hi": "शिकायत दर्ज हुई", "bn": "অভিযোগ নথিভুক্ত হয়েছে"},
    "escalated": {"en": "Sent to the next level", "hi": "अगले स्तर पर भेजा गया", "bn": "পরবর্তী স্তরে পাঠানো হয়েছে"},
    "comment": {"en": "Message", "hi": "संदेश", "bn": "বার্তা"},
    "rated": {"en": "Your rating", "hi": "आपकी रेटिंग", "bn": "আপনার মূল্যায়ন"},
}
LANGUAGE_NAMES = {"hi": "हिन्दी", "bn": "বাংলা", "en": "English"}
STYLE = (
    "body{font-family:sans-serif;margin:0;padding:12px;max-width:40em;line-height:1.4;color:#111;background:#fff}"
    "h1{font-size:1.3em;margin:0 0 8px}dl{margin:0}dt{font-weight:bold;margin-top:8px}dd{margin:0}"
    ".status{font-size:1.2em;padding:6px 8px;background:#eef;border-left:4px solid #336}"
    "ol{padding-left:1.2em}li{margin:6px 0}time{color:#444;font-size:.9em;display:block}nav a{margin-right:12px}"
)


def pick_language(query: str | None, accept_language: str | None, ticket_language: str | None) -> str:
    """The ?lang choice, else the language the reporter chose for the ticket, else the first of the browser's
    Accept-Language we speak (a cheap phone often says en-US whatever its owner reads), else Hindi."""
    if query in LANGUAGES:
        return query
    if ticket_language in LANGUAGES:
        return ticket_language
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return "hi"


def _local(moment: datetime, tz: str) -> str:
    return moment.astimezone(ZoneInfo(tz)).strftime("%d-%m-%Y %H:%M")


def _event_label(entry: Mapping[Any, Any], lang: str) -> str:
    if entry["kind"] == "status" and entry["to_status"]:
        return STATUS[entry["to_status"]][lang]
    if entry["kind"] == "escalated":
        level = LEVEL.get(str(entry["data"].get("to_level")), {}).get(lang, "")
        return f"{EVENT['escalated'][lang]}: {level}"
    if entry["kind"] == "rated":
        return f"{EVENT['rated'][lang]}: {entry['data'].get('rating', '')}"
    return EVENT.get(entry["kind"], {}).get(lang, entry["kind"])


def _page(lang: str, number: str, body: str) -> str:
    t = TEXT[lang]
    links = " ".join(f'<a href="?lang={code}" lang="{code}">{name}</a>' for code, name in LANGUAGE_NAMES.items())
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(t['title'])} {escape(number)}</title><style>{STYLE}</style></head>"
        f'<body><nav aria-label="{escape(t["lang"])}">{links}</nav><h1>{escape(t["title"])}</h1>{body}</body></html>'
    )


def render_missing(lang: str, number: str) -> str:
    return _page(lang, number, f"<p>{escape(TEXT[lang]['none'])}</p>")


def render(lang: str, ticket: Mapping[Any, Any], desk_name: str, tz: str, deadline: datetime | None, paused: bool,
           entries: Sequence[Mapping[Any, Any]]) -> str:
    t = TEXT[lang]
    level = LEVEL.get(ticket["level"], {}).get(lang, ticket["level"])
    if paused:
        due = escape(t["paused"])
    elif deadline is not None:
        due = f'<time datetime="{deadline.isoformat()}">{_local(deadline, tz)} ({escape(tz)})</time>'
    else:
        due = "—"
    items = "".join(
        f'<li><time datetime="{e["at"].isoformat()}">{_local(e["at"], tz)}</time>{escape(_event_label(e, lang))}'
        + (f"<br>{escape(e['body'])}" if e["kind"] in ("comment", "status", "rated") and e["body"] else "")
        + "</li>"
        for e in entries
    )
    body = (
        f"<dl><dt>{escape(t['number'])}</dt><dd><strong>{escape(ticket['tracking_number'])}</strong></dd>"
        f"<dt>{escape(t['status'])}</dt><dd class=\"status\">{escape(STATUS[ticket['status']][lang])}</dd>"
        f"<dt>{escape(t['level'])}</dt><dd>{escape(level)} — {escape(desk_name)}</dd>"
        f"<dt>{escape(t['deadline'])}</dt><dd>{due}</dd>"
        f"<dt>{escape(t['raised'])}</dt><dd>{_local(ticket['created_at'], tz)}</dd></dl>"
        f"<h2>{escape(t['timeline'])}</h2><ol>{items}</ol>"
    )
    return _page(lang, ticket["tracking_number"], body)
