"""Script-independent phonetic keys for names written in Bengali, Devanagari or Latin script.

Indic text is transliterated to ITRANS (``indic-transliteration``); then every spelling is
reduced to a consonant skeleton with the common equivalences folded (v/w/b, sh/s, ph/f, x/ks,
aspirates, nasals), so রহিম, रहीम, Rahim and Raheem all give ``rhm``.  Honorifics and filler
parts (Md., Begum, Khatun, Sri, ...) are dropped.  The key is deliberately coarse: it selects
candidates; people confirm the match.

Honorifics are recognised on the spelling (the part transliterated, as bare lower-case
letters), never on the coarse key: "mo" and Mim, Maya, Mia all have the key ``m``, "md" and
Madhu ``md``, "late" and Lata ``lt``.  And stripping never removes the whole name: a name made
only of honorific-like words keeps them, so every name with letters stays searchable.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from indic_transliteration import sanscript

_SCRIPTS: tuple[tuple[int, int, str], ...] = (
    (0x0900, 0x097F, sanscript.DEVANAGARI),
    (0x0980, 0x09FF, sanscript.BENGALI),
    (0x0A00, 0x0A7F, sanscript.GURMUKHI),
    (0x0A80, 0x0AFF, sanscript.GUJARATI),
    (0x0B00, 0x0B7F, sanscript.ORIYA),
)
# ITRANS marks that are case-sensitive: nasals, visarga, vocalic r.
_ITRANS_MARKS = (("~n", "n"), (".n", "n"), ("~N", "n"), ("M", "n"), ("H", ""), ("RRi", "ri"), (".a", ""))
_DIGRAPHS = (
    ("x", "ks"), ("q", "k"), ("z", "j"), ("ph", "f"), ("kh", "k"), ("gh", "g"), ("chh", "c"), ("ch", "c"),
    ("jh", "j"), ("th", "t"), ("dh", "d"), ("bh", "b"), ("sh", "s"), ("ee", "i"), ("oo", "u"),
)
_VOWELS = set("aeiouy")
# Spellings as written (Latin, Bengali, Devanagari); compared after the same transliteration
# as the name itself, so বেগম (ITRANS "vegama") and Begum both match.
_HONORIFICS = (
    "md", "mohd", "mohammad", "mohammed", "mohammod", "mohamad", "mohamed", "muhammad", "muhammed", "mo", "mst",
    "most", "mosammat", "mosammot", "musammat", "begum", "khatun", "sri", "shri", "shree", "srimati", "shrimati",
    "smt", "late", "marhum", "marhuma", "dr", "mr", "mrs", "ms",
    "মোঃ", "মোহাম্মদ", "মোহাম্মাদ", "মুহাম্মদ", "মোসাম্মৎ", "মোছাম্মৎ", "মোছাঃ", "মোসাঃ", "বেগম", "খাতুন", "শ্রী",
    "শ্রীমতী", "শ্রীমতি", "মরহুম", "মরহুমা", "স্বর্গীয়",
    "श्री", "श्रीमती", "श्रीमान", "मोहम्मद", "बेगम", "खातून", "स्वर्गीय",
)
# Bengali nukta letters, which the transliterator does not know (it splits the word at the
# nukta): য় is the y-glide, ড় and ঢ় are flapped r.
_BENGALI_NUKTA = (("\u09af\u09bc", "\u09af"), ("\u09a1\u09bc", "\u09b0"), ("\u09a2\u09bc", "\u09b0"), ("\u09bc", ""))
_PART_SEPARATOR = re.compile(r"[^\w~.]+|(?<=\w)\.(?=\s|$)")


def _script_of(ch: str) -> str | None:
    cp = ord(ch)
    for low, high, scheme in _SCRIPTS:
        if low <= cp <= high:
            return scheme
    return None


def to_latin(text: str) -> str:
    """Transliterate Indic runs to ITRANS; Latin text passes through."""
    out: list[str] = []
    run: list[str] = []
    run_script: str | None = None
    for ch in unicodedata.normalize("NFC", text):
        script = _script_of(ch)
        if script is not None and script == run_script:
            run.append(ch)
            continue
        if run and run_script:
            out.append(_from_itrans("".join(run), run_script))
        run, run_script = ([ch], script) if script else ([], None)
        if script is None:
            out.append(ch)
    if run and run_script:
        out.append(_from_itrans("".join(run), run_script))
    return "".join(out)


def _from_itrans(text: str, scheme: str) -> str:
    if scheme == sanscript.BENGALI:
        for src, dst in _BENGALI_NUKTA:
            text = text.replace(src, dst)
    out = sanscript.transliterate(text, scheme, sanscript.ITRANS)
    for src, dst in _ITRANS_MARKS:
        out = out.replace(src, dst)
    return out


def _fold(token: str) -> str:
    token = unicodedata.normalize("NFKD", token.lower())
    token = "".join(ch for ch in token if "a" <= ch <= "z")
    for src, dst in _DIGRAPHS:
        token = token.replace(src, dst)
    # A nasal before a labial is one sound whatever the spelling (anusvara, m or n).
    return re.sub(r"m(?=[pbf])", "n", token)


def _skeleton(token: str) -> str:
    if not token:
        return ""
    out = ["a" if token[0] in _VOWELS else ("b" if token[0] in "vw" else token[0])]
    prev = token[0]
    for ch in token[1:]:
        if ch in _VOWELS or (ch == "w" and prev in _VOWELS):  # a w after a vowel is a glide
            prev = ch
            continue
        if ch in "vw":
            ch = "b"
        if out[-1] != ch:
            out.append(ch)
        prev = ch
    return "".join(out)


@lru_cache(maxsize=4096)
def token_key(token: str) -> str:
    return _skeleton(_fold(token))


def _plain(part: str) -> str:
    """A transliterated part as bare lower-case letters: what honorifics are compared on."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", part.lower()) if "a" <= ch <= "z")


@lru_cache(maxsize=1)
def _honorifics() -> frozenset[str]:
    return frozenset(_plain(to_latin(h)) for h in _HONORIFICS)


@lru_cache(maxsize=8192)
def _part(part: str) -> tuple[str, bool]:
    return token_key(part), _plain(part) in _honorifics()


def name_parts(name: str) -> list[tuple[str, bool]]:
    """(phonetic key, is an honorific) for every part of the name that has letters, in order."""
    parts = (_part(p) for p in _PART_SEPARATOR.split(to_latin(name)) if p)
    return [p for p in parts if p[0]]


def keep_name(parts: list[tuple[str, bool]]) -> list[str]:
    """The keys without honorifics, unless that would leave nothing of the name."""
    kept = [key for key, honorific in parts if not honorific]
    return kept or [key for key, _ in parts]


def name_tokens(name: str) -> list[str]:
    """Phonetic keys of the meaningful parts of a name, in order, honorifics removed."""
    return keep_name(name_parts(name))


def name_key(name: str) -> str:
    """One string key of the whole name (tokens in order, space separated)."""
    return " ".join(name_tokens(name))
