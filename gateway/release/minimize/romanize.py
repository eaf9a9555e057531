"""Hangul names in Latin letters, as Koreans write them in Latin text: "김민수" is also
"Kim Minsu", "minsu_kim", "Min-su".

Syllable by syllable by the Revised Romanization's letters (no sound-change rules: names are
spelled as written), with the spellings families actually use for common surnames.
"""

from __future__ import annotations


def _letters(text: str) -> list[str]:
    return text.split()


_INITIALS = _letters("g kk n d tt r m b pp s ss - j jj ch k t p h")
_VOWELS = _letters("a ae ya yae eo e yeo ye o wa wae oe yo u wo we wi yu eu ui i")
_FINALS = ["", *_letters("k k k n n n t l k m l l l p l m p p t t ng t t k t p t")]
SURNAMES = {
    "김": "kim",
    "이": "lee",
    "박": "park",
    "최": "choi",
    "정": "jung",
    "강": "kang",
    "조": "cho",
    "윤": "yoon",
    "장": "jang",
    "임": "lim",
    "한": "han",
    "오": "oh",
    "서": "seo",
    "신": "shin",
    "권": "kwon",
    "황": "hwang",
    "안": "ahn",
    "송": "song",
    "류": "ryu",
    "유": "yoo",
    "홍": "hong",
    "전": "jeon",
    "고": "ko",
    "문": "moon",
    "양": "yang",
    "손": "son",
    "배": "bae",
    "백": "baek",
    "허": "heo",
    "노": "noh",
    "하": "ha",
    "곽": "kwak",
    "성": "sung",
    "차": "cha",
    "주": "joo",
    "우": "woo",
    "민": "min",
    "나": "na",
    "지": "ji",
    "엄": "eom",
    "채": "chae",
    "원": "won",
    "방": "bang",
    "공": "gong",
    "현": "hyun",
}


def syllable(c: str) -> str:
    """One Hangul syllable's letters (Revised Romanization, as written)."""
    index = ord(c) - 0xAC00
    if not 0 <= index < 11172:
        return c
    initial, rest = divmod(index, 588)
    vowel, final = divmod(rest, 28)
    lead = _INITIALS[initial]
    return ("" if lead == "-" else lead) + _VOWELS[vowel] + _FINALS[final]


def is_hangul_name(name: str) -> bool:
    return 2 <= len(name) <= 4 and all("\uac00" <= c <= "\ud7a3" for c in name)


def romanized(name: str) -> list[str]:
    """Latin spellings of a Hangul full name: "surname given", and the given name hyphenated
    ("Min-su"). Names of two syllables are taken as given names alone."""
    if not is_hangul_name(name):
        return []
    surname_len = 2 if len(name) == 4 else (1 if len(name) == 3 else 0)
    surname, given = name[:surname_len], name[surname_len:]
    parts = [syllable(c) for c in given]
    out = ["".join(parts), "-".join(parts)]
    if surname:
        family = SURNAMES.get(surname) or "".join(syllable(c) for c in surname)
        out.append(f"{family} {''.join(parts)}")
    return out
