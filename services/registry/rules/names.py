"""Script-independent phonetic keys for names written in Bengali, Devanagari or Latin script.

Indic text is transliterated to ITRANS (``indic-transliteration``); then every spelling is
reduced to a consonant skeleton with the common equivalences folded (v/w/b, sh/s, ph/f, x/ks,
aspirates, nasals), so রহিম, रहीम, Rahim and Raheem all give ``rhm``.  Honorifics and filler
parts (Md., Begum, Khatun, Sri, ...) are dropped.  The key is deliberately coarse: it selects
candidates; people confirm the match.
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
_HONORIFICS = (
    "md", "mohd", "mohammad", "muhammad", "mohammed", "begum", "khatun", "sri", "shri", "shree", "smt", "mst",
    "mosammat", "mosammot", "late", "dr", "mr", "mrs", "ms", "mo", "shrI", "shrImatI", "mosAmmata", "begama",
    "khAtuna", "mohAmmada",
)


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


@lru_cache(maxsize=1)
def _honorific_keys() -> frozenset[str]:
    return frozenset(token_key(h) for h in _HONORIFICS)


def name_tokens(name: str) -> list[str]:
    """Phonetic keys of the meaningful parts of a name, in order, honorifics removed."""
    latin = to_latin(name)
    keys = [token_key(part) for part in re.split(r"[^\w~.]+|(?<=\w)\.(?=\s|$)", latin) if part]
    stop = _honorific_keys()
    return [k for k in keys if k and k not in stop]


def name_key(name: str) -> str:
    """One string key of the whole name (tokens in order, space separated)."""
    return " ".join(name_tokens(name))
