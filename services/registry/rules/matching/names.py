"""Names as the matcher compares them: one Latin form per part, whatever the script it was written in.

Indic runs are transliterated to ITRANS (``services.registry.rules.names.to_latin``); a word-final
short ``a`` of an Indic word is the inherent vowel that Bengali and Hindi do not pronounce
(করিম → ``karima`` → ``karim``), while a long ``A`` is kept (ফাতেমা → ``fatema``).  The Latin form is
then folded (aspirates, sibilants, v/w/b, doubled letters, long vowels), so spellings of one sound
meet: Rokeya, রোকেয়া and रोकेया all become ``rokeya``.  The coarse consonant skeleton of the
registry's name search (``token_key``) is kept beside it for blocking.

Honorifics and religious or customary parts (Md., Mohammad, Mst., Smt., Shri/Sri, Begum/Bibi/Khatun,
Kumar/Kr., Devi, late ...) are recognised on the transliterated spelling and set aside: they are
not name tokens, so "Mst. Rokeya Bibi" and "রোকেয়া বেগম" compare as Rokeya against Rokeya.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from services.registry.rules.names import to_latin, token_key

HONORIFICS = (
    "md", "mohd", "mohammad", "mohammed", "mohammod", "mohamad", "mohamed", "muhammad", "muhammed", "mohammat",
    "mo", "mst", "most", "mosammat", "mosammot", "musammat", "mossammat", "mosa", "begum", "bibi", "khatun",
    "khatoon", "sri", "shri", "shree", "sree", "srimati", "shrimati", "smt", "kumar", "kumari", "kr", "devi",
    "debi", "late", "lt", "marhum", "marhuma", "dr", "mr", "mrs", "ms", "alhaj", "haji",
    "মোঃ", "মো", "মোহাম্মদ", "মোহাম্মাদ", "মুহাম্মদ", "মোসাম্মৎ", "মোছাম্মৎ", "মোছাঃ", "মোসাঃ", "বেগম", "বিবি",
    "খাতুন", "শ্রী", "শ্রীমতী", "শ্রীমতি", "কুমার", "কুমারী", "দেবী", "মরহুম", "মরহুমা", "স্বর্গীয়", "আলহাজ্ব",
    "श्री", "श्रीमती", "श्रीमान", "मोहम्मद", "बेगम", "बीबी", "खातून", "कुमार", "कुमारी", "देवी", "स्वर्गीय",
)
_SEPARATOR = re.compile(r"[\s,.;:/\\()\-_'\"]+")
_FOLDS = (
    ("ow", "o"), ("ei", "e"), ("ay", "ai"), ("chh", "c"), ("ch", "c"), ("sh", "s"), ("ph", "f"), ("kh", "k"),
    ("gh", "g"), ("jh", "j"), ("th", "t"), ("dh", "d"), ("bh", "b"), ("x", "ks"), ("q", "k"), ("z", "j"),
    ("v", "b"), ("w", "b"),
    ("ee", "i"), ("ii", "i"), ("oo", "u"), ("uu", "u"), ("aa", "a"), ("ou", "o"), ("au", "o"),
)
_DOUBLE = re.compile(r"(.)\1+")


def is_indic(token: str) -> bool:
    return any("\u0900" <= ch <= "\u0dff" for ch in token)


def _plain(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", text.lower()) if "a" <= ch <= "z")


@lru_cache(maxsize=200_000)
def romanise(token: str) -> str:
    """The folded Latin form of one name part (empty if it has no letters)."""
    latin = to_latin(token)
    if is_indic(token) and len(latin) > 1 and latin.endswith("a") and latin[-2] not in "aeiouAEIOU":
        latin = latin[:-1]  # the unpronounced inherent vowel
    text = _plain(latin)
    if is_indic(token):
        # Bengali writes the "wa" sound o + ya (আনোয়ার Anwar, ওয়াসিম Wasim); read letter by letter it is
        # "oya", which no Latin spelling has, and the Bengali and Latin records of one Anwar differed.
        text = text.replace("oya", "wa")
    for src, dst in _FOLDS:
        text = text.replace(src, dst)
    text = _DOUBLE.sub(r"\1", text).replace("ngh", "ng")
    if text.endswith("nh"):  # सिंह is read Singh
        text = text[:-1] + "g"
    return text[:-1] + "i" if text.endswith("y") and len(text) > 2 else text


@lru_cache(maxsize=1)
def _honorific_forms() -> frozenset[str]:
    return frozenset(_plain(to_latin(h)) for h in HONORIFICS) | frozenset(romanise(h) for h in HONORIFICS)


def is_honorific(token: str) -> bool:
    return _plain(to_latin(token)) in _honorific_forms() or romanise(token) in _honorific_forms()


@lru_cache(maxsize=400_000)
def name_parts(name: str) -> tuple[str, ...]:
    """The romanised meaningful parts of a name, in order, honorifics set aside ("Begum" alone is no name)."""
    parts = [p for p in _SEPARATOR.split(unicodedata.normalize("NFC", name)) if p]
    kept = [romanise(p) for p in parts if not is_honorific(p)]
    return tuple(k for k in kept if k)


@lru_cache(maxsize=200_000)
def skeleton(part: str) -> str:
    """The coarse consonant key of a romanised part (the registry's name-search key)."""
    return token_key(part)
