"""A second, harder corpus for the text minimizer, written by a reviewer who did not write it.

Matrix-shaped records (body, formatted_body, file name, reply fallbacks) with identifiers in the
forms the first corpus (tests/minimizer_corpus.py) leaves out: particle runs (민수한테도,
지은이랑은, 민수더러), zero-width joiners and non-joiners inside names, NFD Hangul, full-width
digits, en dashes and minus signs in phone numbers, "+82 (0)10", "0082", "1 (212)", plus
addressing and mailto:, Matrix ids in matrix.to links (plain and percent-encoded), Hangul names
percent-encoded in URLs and inside file names, resident numbers with spaces, en dashes and full
width; and ordinary text built to trip a minimizer: Korean words that begin with a given name
(민수기, 지은행, 현주소), English words that begin with a Latin name (Danielle, Bobcat,
Parkway), dates, times, amounts, decimals and order codes.

Deterministic (random.Random(seed)). Every planted identifier records its kind, its surface,
and whose it is.
"""

from __future__ import annotations

import dataclasses
import random
import unicodedata
from urllib.parse import quote

from gateway.model import Person


def _words(text: str) -> list[str]:
    return text.split()


HS = "hs.example"
# (display name, localpart): given names ending in a vowel (민수) and in a consonant (지은).
KOREAN = [
    ("김민수", "minsu"),
    ("이지은", "jieun"),
    ("박현주", "hj.park"),
    ("최서연", "seoyeon_c"),
    ("정하은", "haeun"),
    ("강미정", "mj.kang"),
    ("윤보라", "bora.y"),
    ("장동건", "dg.jang"),
    ("한예슬", "yeseul"),
    ("오수진", "sujin.oh"),
]
LATIN = [
    ("Daniel Brooks", "dbrooks"),
    ("Alice Nakamura", "alice.n"),
    ("Bob Stone", "bob"),
    ("Grace Okafor", "gokafor"),
    ("Mark Oyelaran", "mark.o"),
]
# Particles and endings people glue to a name, one or two at a time.
PARTICLES = _words(
    "랑 이랑 가 이가 는 은 한테 에게 의 도 만 께서 께서는 한테도 이랑은 에게만 더러 보고 "
    "조차 마저 밖에 처럼 이나 나 든지 이든지 하고 한테서 에게서 씨 씨가 님께서 이잖아 "
    "이라고 라고 야 아 이야"
)
# Ordinary words, with traps: a Korean word that begins with a given name above (민수기 the
# Book of Numbers, 지은행 "the bank", 현주소 "address", 하은행, 미정산 "unsettled", 보라색
# "purple", 동건축 "building", 예슬픔 no, 수진단 "diagnosis"), English words that begin with a
# Latin given name or surname.
WORDS_KO = _words(
    "내일 회의 자료 민수기 지은행 현주소 미정산 보라색 동건축 수진단 서연구소 하은행나무 "
    "점심 같이 먹자 주말 등산 사진 보내줘 늦어서 미안 생일 축하해 고마워 알았어 진짜 좋다 "
    "날씨 우산 챙겨 회사 출근 퇴근 커피 한잔 예매 했어 영화 도서관 은행 계좌 이체 완료"
)
WORDS_EN = _words(
    "see you at the station tomorrow Danielle Bobcat bobsled Parkway Stonehenge Alicent "
    "malice graceful disgrace marked bookmark Brookside okay thanks meeting moved lunch budget "
    "report draft photos weekend train late call later sure great idea office printer coffee"
)


def _ordinary_numbers(rng: random.Random) -> str:
    """Numbers that are no one's identifier: dates, times, amounts, decimals, order codes."""
    y, mo, d = rng.randrange(1990, 2031), rng.randrange(1, 13), rng.randrange(1, 29)
    h, mi = rng.randrange(24), rng.randrange(60)
    return rng.choice(
        [
            f"{y}-{mo:02d}-{d:02d}",
            f"{y}.{mo:02d}.{d:02d}",
            f"{y}/{mo}/{d}",
            f"{y}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}",
            f"{y}.{mo}.{d}. {h}:{mi:02d}",
            f"{y}년 {mo}월 {d}일",
            f"{h:02d}:{mi:02d}",
            f"{rng.randrange(1, 999):,}원",
            f"{rng.randrange(10**5, 10**9):,}원",
            f"₩{rng.randrange(10**6, 10**9):,}",
            f"${rng.randrange(1, 10**6):,}.{rng.randrange(100):02d}",
            f"{rng.randrange(1, 1000)}.{rng.randrange(10**3):03d}.{rng.randrange(10**3):03d}",
            f"{rng.randrange(1, 100)}.{rng.randrange(10**8, 10**9)}",
            f"{rng.randrange(1, 100)}%",
            f"ORD-{y}-{rng.randrange(10**6):06d}",
            f"INV-{y}{mo:02d}{d:02d}-{rng.randrange(1000):03d}",
            f"#A{rng.randrange(10**6, 10**7)}",
            f"주문번호 #{rng.randrange(10**5, 10**7)}",
            f"{rng.randrange(100, 1000)}호",
            f"v{rng.randrange(10)}.{rng.randrange(20)}.{rng.randrange(100)}",
            f"{rng.randrange(1, 50)}억 {rng.randrange(1, 10)}천만원",
        ]
    )


@dataclasses.dataclass(frozen=True)
class Planted:
    kind: str  # name | matrix | mention | email | phone | rrn | quote
    surface: str  # what must not remain, as planted
    owner: str | None  # the account it belongs to, None for people no store knows


@dataclasses.dataclass(frozen=True)
class Record:
    """A Matrix message as the store hands it to the release, and the parties it names."""

    payload: dict[str, object]
    people: dict[str, str]
    planted: tuple[Planted, ...]
    ordinary: bool
    numbers: tuple[str, ...] = ()  # ordinary numbers put among the planted identifiers


def people(rng: random.Random) -> tuple[Person, list[Person]]:
    """(the target, the third parties): Matrix users with e-mail and phone third-party ids."""
    others = []
    for i, (name, local) in enumerate(KOREAN):
        others.append(
            Person(
                f"@{local}:{HS}",
                names=(name,),
                phones=(f"+8210{rng.randrange(2000, 9999)}{1000 + i:04d}",),
                emails=(f"{local.replace('_', '.')}{i}@mail.{HS}",),
                handles=(local,),
            )
        )
    for i, (name, local) in enumerate(LATIN):
        others.append(
            Person(
                f"@{local}:{HS}",
                names=(name,),
                phones=(f"+1212555{101 + 11 * i:04d}",),
                emails=(f"{name.replace(' ', '.')}@Corp.Example.com",),
                handles=(local,),
            )
        )
    target = Person(
        f"@suspect:{HS}",
        names=("서하나",),
        phones=("+821055550000",),
        emails=("suspect@mail.hs.example",),
        handles=("suspect",),
    )
    return target, others


def _kr_phone(e164: str, rng: random.Random) -> str:
    n = "0" + e164[3:]
    a, b, c = n[:3], n[3:7], n[7:]
    return rng.choice(
        [
            f"{a}-{b}-{c}",
            f"{a} {b} {c}",
            n,
            f"{a}.{b}.{c}",
            f"{a}\u2013{b}\u2013{c}",  # en dashes
            f"{a}\u2212{b}\u2212{c}",  # minus signs
            "".join(chr(ord(ch) + 0xFEE0) if ch.isdigit() else "\uff0d" for ch in f"{a}-{b}-{c}"),
            f"+82 {a[1:]} {b} {c}",
            f"+82-{a[1:]}-{b}-{c}",
            f"+82 (0){a[1:]}-{b}-{c}",
            f"0082 {a[1:]} {b} {c}",
            f"+82.{a[1:]}.{b}.{c}",
            f"({a}){b}-{c}",
            f"{a}-{b}{c}",
            f"{a}\u00a0{b}\u00a0{c}",  # no-break spaces
        ]
    )


def _us_phone(e164: str, rng: random.Random) -> str:
    n = e164[2:]
    a, b, c = n[:3], n[3:6], n[6:]
    return rng.choice(
        [
            f"({a}) {b}-{c}",
            f"{a}.{b}.{c}",
            f"{a}-{b}-{c}",
            f"+1-{a}-{b}-{c}",
            f"+1 {a} {b} {c}",
            f"+1 ({a}) {b}-{c}",
            f"1 ({a}) {b}-{c}",
            f"1-{a}-{b}-{c}",
            f"+1.{a}.{b}.{c}",
            f"{a} {b} {c}",
            f"+1{n}",
            f"{a}\u2013{b}\u2013{c}",
            f"tel:+1-{a}-{b}-{c}",
        ]
    )


def _scramble_hangul(name: str, rng: random.Random) -> str:
    style = rng.randrange(5)
    if style == 0:
        return unicodedata.normalize("NFD", name)
    if style == 1:
        return name[0] + rng.choice("\u200d\u200c\u200b\u2060") + name[1:]
    return name


def _scramble_latin(name: str, rng: random.Random) -> str:
    style = rng.randrange(7)
    if style == 0:
        return name.upper()
    if style == 1:
        return name.lower()
    if style == 2:
        return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in name)
    if style == 3:
        return name[:2] + "\u200d" + name[2:]
    if style == 4:
        return name.swapcase()
    return name


def _plant(rng: random.Random, others: list[Person]) -> tuple[str, Planted]:
    """One identifier in one written form: (text to put in a body, what was planted)."""
    korean = [p for p in others if "\uac00" <= p.names[0][0] <= "\ud7a3"]
    latin = [p for p in others if p not in korean]
    kind = rng.choice(
        ["ko_full", "ko_given", "ko_given", "latin", "latin_given", "ko_url", "latin_url",
         "ko_file", "latin_file", "matrix", "matrix_link", "mention", "email", "email_plus",
         "phone_kr", "phone_us", "phone_unknown", "email_unknown", "matrix_unknown", "rrn"]
    )  # fmt: skip
    if kind in ("ko_full", "ko_given", "ko_url", "ko_file"):
        p = rng.choice(korean)
        name = p.names[0] if kind == "ko_full" else p.names[0][1:]
        if kind == "ko_url":
            return f"https://blog.example/tag/{quote(name)}", Planted("name", name, p.account)
        if kind == "ko_file":
            return rng.choice([f"{name}_이력서.pdf", f"IMG_{name}랑_2024.jpg"]), Planted(
                "name", name, p.account
            )
        glued = _scramble_hangul(name, rng) + "".join(rng.sample(PARTICLES, rng.randrange(0, 3)))
        return rng.choice(["{}", "({})", "「{}」", "'{}'", "{}!"]).format(glued), Planted(
            "name", name, p.account
        )
    if kind in ("latin", "latin_given", "latin_url", "latin_file"):
        p = rng.choice(latin)
        first, last = p.names[0].split()
        if kind == "latin_url":
            slug = rng.choice([f"{first}.{last}", f"{first}-{last}", f"{last}{first}"]).lower()
            return f"https://social.example/{slug}?ref=share", Planted("name", slug, p.account)
        if kind == "latin_file":
            slug = rng.choice([f"{first}_{last}", f"{last}-{first}", f"{first}{last}"])
            return f"{slug}_CV_final(2).docx", Planted("name", slug, p.account)
        name = rng.choice([p.names[0], f"{last}, {first}", first]) if kind == "latin" else first
        surface = _scramble_latin(name, rng)
        return surface + rng.choice(["", "'s", ":", "!", "?"]), Planted("name", surface, p.account)
    if kind == "matrix":
        p = rng.choice(others)
        surface = rng.choice([p.account, p.account.upper()])
        return surface, Planted("matrix", surface, p.account)
    if kind == "matrix_link":
        p = rng.choice(others)
        link = rng.choice([p.account, quote(p.account, safe="")])
        return f"https://matrix.to/#/{link}", Planted("matrix", p.account, p.account)
    if kind == "mention":
        p = rng.choice(others)
        return "@" + p.handles[0], Planted("mention", p.handles[0], p.account)
    if kind in ("email", "email_plus"):
        p = rng.choice(others)
        email = p.emails[0]
        if kind == "email_plus":
            local, _, domain = email.partition("@")
            local += f"+tag{rng.randrange(100)}"
            surface = f"{local}@{domain}"
            return rng.choice(["{}", "<{}>", "mailto:{}"]).format(surface), Planted(
                "email", local, None
            )
        surface = rng.choice([email, email.upper(), email.lower()])
        return rng.choice(["{}", "<{}>", "mailto:{}", "({})"]).format(surface), Planted(
            "email", surface, p.account
        )
    if kind == "phone_kr":
        p = rng.choice(korean)
        surface = _kr_phone(p.phones[0], rng)
        return surface + rng.choice(["", "로", "번으로", "."]), Planted("phone", surface, p.account)
    if kind == "phone_us":
        p = rng.choice(latin)
        surface = _us_phone(p.phones[0], rng)
        return surface, Planted("phone", surface, p.account)
    if kind == "phone_unknown":
        if rng.random() < 0.5:
            surface = _kr_phone(f"+8210{rng.randrange(2000, 9999)}{rng.randrange(10**4):04d}", rng)
        else:
            area = rng.choice(["212", "415", "646", "310", "617"])
            surface = _us_phone(f"+1{area}{rng.randrange(200, 999)}{rng.randrange(10**4):04d}", rng)
        return surface, Planted("phone", surface, None)
    if kind == "email_unknown":
        surface = f"Stranger.{rng.randrange(10**4)}+x@Gmail.example"
        return surface, Planted("email", surface, None)
    if kind == "matrix_unknown":
        surface = f"@visitor_{rng.randrange(10**4)}:other.example"
        return rng.choice([surface, f"https://matrix.to/#/{quote(surface, safe='')}"]), Planted(
            "matrix", surface, None
        )
    yy, mm, dd = rng.randrange(0, 100), rng.randrange(1, 13), rng.randrange(1, 29)
    digits = f"{yy:02d}{mm:02d}{dd:02d}"
    back = f"{rng.randrange(1, 9)}{rng.randrange(10**6):06d}"
    sep = rng.choice(["-", "", " - ", "\u2013", " "])
    surface = f"{digits}{sep}{back}"
    if rng.random() < 0.2:
        surface = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in surface)
    return surface, Planted("rrn", surface, None)


def _filler(rng: random.Random, n: int) -> list[str]:
    words = WORDS_KO if rng.random() < 0.5 else WORDS_EN
    return rng.choices(words, k=n)


def corpus(
    seed: int = 1417, planted: int = 1600, quotes: int = 300, ordinary: int = 1200
) -> tuple[Person, list[Person], list[Record]]:
    """(target, others, records): messages with planted identifiers in body, formatted body
    and file name; replies quoting a peer; ordinary messages that must leave unchanged."""
    rng = random.Random(seed)
    target, others = people(rng)
    records: list[Record] = []
    for _ in range(planted):
        parts = _filler(rng, rng.randrange(1, 4))
        found: list[Planted] = []
        for _ in range(rng.randrange(1, 4)):
            text, plant = _plant(rng, others)
            parts.insert(rng.randrange(len(parts) + 1), text)
            found.append(plant)
        numbers = (_ordinary_numbers(rng),) if rng.random() < 0.3 else ()
        parts += numbers
        body = " ".join(parts)
        where = rng.randrange(3)
        payload: dict[str, object] = {"reply": False, "room": f"!room{rng.randrange(9)}:{HS}"}
        if where == 0:
            payload["body"] = body
        elif where == 1:
            payload["body"] = body
            payload["formatted_body"] = "<p>" + body.replace("&", "&amp;") + "</p>"
        else:
            payload["body"] = "a file"
            payload["filename"] = body
        records.append(Record(payload, {"sender": target.account}, tuple(found), False, numbers))
    for _ in range(quotes):
        peer, named = rng.sample(others, 2)
        words = f"{peer.names[0]} here, call {named.names[0]} at {_kr_phone(named.phones[0], rng)}"
        mention = rng.choice([named.names[0][1:] + "한테도", "@" + named.handles[0]])
        reply_text = f"ok {mention} 알았어"
        payload = {
            "reply": True,
            "room": f"!room{rng.randrange(9)}:{HS}",
            "body": f"> <{peer.account}> {words}\n> 두 번째 줄\n\n{reply_text}",
            "formatted_body": f'<mx-reply><blockquote><a href="https://matrix.to/#/{peer.account}">'
            f"In reply to</a> {words}</blockquote></mx-reply>{reply_text}",
        }
        planted_quote = (
            Planted("quote", words, peer.account),
            Planted("matrix", peer.account, peer.account),
            Planted("name", named.names[0][1:], named.account),
        )
        people_ = {"sender": target.account}
        if rng.random() < 0.7:  # the store found the quoted event; else only the fallback says
            people_["quoted"] = peer.account
        records.append(Record(payload, people_, planted_quote, False))
    for _ in range(ordinary):
        words = _filler(rng, rng.randrange(3, 12))
        for _ in range(rng.randrange(0, 3)):
            words.insert(rng.randrange(len(words) + 1), _ordinary_numbers(rng))
        if rng.random() < 0.2:
            words.append(rng.choice([target.names[0], target.emails[0], "010-5555-0000"]))
        records.append(Record({"reply": False, "body": " ".join(words)}, {}, (), True))
    rng.shuffle(records)
    return target, others, records
