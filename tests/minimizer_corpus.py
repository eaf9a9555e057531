"""A generated corpus for the text minimizer: people, and messages with identifiers planted in
every form people write them (and ordinary text that must come out unchanged).

Deterministic (random.Random(seed)). Each planted identifier records its kind, the text as
planted and whose it is, so a test can tell whether it left in clear and under which pseudonym.
"""

from __future__ import annotations

import dataclasses
import random
import unicodedata

from gateway.model import Person


def _words(text: str) -> list[str]:
    return text.split()


SURNAMES_KO = _words("김 이 박 최 정 강 조 윤 장 임 한 오 서 신 권")
GIVEN_KO = _words(
    "민수 지수 서연 지훈 수진 현우 예린 도윤 하은 준호 유진 성민 다은 태현 소연 재원 "
    "은비 승우 나연 동현 채원 우진 가영 시우 혜진 건우 보람 영호 미정 상훈"
)
LATIN = [
    ("Minsu", "Kim"),
    ("Jiwoo", "Park"),
    ("Alice", "Walker"),
    ("Brian", "Lopez"),
    ("Seoyeon", "Choi"),
    ("Daniel", "Meyer"),
    ("Hyunwoo", "Jang"),
    ("Olivia", "Brennan"),
    ("Taeyang", "Yoon"),
    ("Marcus", "Feld"),
]
PARTICLES = _words(
    "이 가 은 는 을 를 랑 이랑 하고 한테 에게 의 도 만 께 씨 씨가 한테는 이랑은 야 님"
)
# Ordinary words, some of them traps: a name's first letters, a surname as a word, a Hangul
# word that begins with a given name (민수기, the Book of Numbers).
WORDS_EN = _words(
    "see you at the station tomorrow bring tickets and snacks park the car near gate will "
    "may grace kimchi leeway chopsticks jungle walkway meeting moved lunch budget review "
    "draft photos weekend hiking train late again call me later thanks sure okay great idea "
    "minimum minsk seoul busan tower river coffee deadline report office printer"
)
WORDS_KO = _words(
    "내일 역에서 보자 표랑 간식 꼭 챙겨와 회의 취소 점심 같이 먹자 주말에 등산 갈래 "
    "사진 보내줘 늦어서 미안 민수기 읽었어 지수함수 수진단 서연구 가방 우산 회사 출근 "
    "퇴근 커피 한잔 주가지수 도서관 영화 예매 했어 생일 축하해 고마워 알았어 진짜 "
    "좋다 날씨"
)
DOMAINS = ("example.org", "mail.example.com", "corp.example.net")


@dataclasses.dataclass(frozen=True)
class Planted:
    kind: str  # name | account | matrix | email | phone | rrn | quote
    surface: str  # the text as planted (what must not remain)
    owner: str | None  # the account it belongs to, None for people no store knows


@dataclasses.dataclass(frozen=True)
class Message:
    text: str
    planted: tuple[Planted, ...]
    ordinary: bool  # no identifier planted: must come out unchanged


def people(rng: random.Random) -> tuple[Person, list[Person]]:
    """(the target, the third parties) of the corpus's directory."""
    others: list[Person] = []
    for i, given in enumerate(GIVEN_KO):
        account = f"k{i:03d}"
        others.append(
            Person(
                account,
                names=(SURNAMES_KO[i % len(SURNAMES_KO)] + given,),
                phones=(f"+8210{rng.randrange(10**8):08d}",),
                emails=(f"k{i}.{rng.randrange(1000)}@{DOMAINS[i % 3]}",),
                handles=(f"ko_user{i}",),
            )
        )
    for i, (first, last) in enumerate(LATIN):
        local = f"{first.lower()}.{last.lower()}"
        others.append(
            Person(
                f"@{local}:example.org",
                names=(f"{first} {last}",),
                labels=(f"{first} (work)",),
                phones=(f"+1415555{1000 + i:04d}",),
                emails=(f"{local}@{DOMAINS[i % 3]}",),
                handles=(local,),
            )
        )
    target = Person(
        "t001",
        names=("Hana Seo",),
        phones=("+821012340000",),
        emails=("hana.seo@example.org",),
    )
    return target, others


def _korean_phone(e164: str, style: int) -> str:
    d = "0" + e164[3:]  # 010xxxxxxxx
    a, b, c = d[:3], d[3:7], d[7:]
    return [
        f"{a}-{b}-{c}",
        f"{a} {b} {c}",
        d,
        f"{a}.{b}.{c}",
        f"+82 {a[1:]} {b} {c}",
        f"+82-{a[1:]}-{b}-{c}",
        f"+82{d[1:]}",
        f"({a}) {b}-{c}",
    ][style % 8]


def _us_phone(e164: str, style: int) -> str:
    d = e164[2:]
    a, b, c = d[:3], d[3:6], d[6:]
    return [
        f"({a}) {b}-{c}",
        f"{a}-{b}-{c}",
        f"{a}.{b}.{c}",
        f"+1 {a} {b} {c}",
        f"1-{a}-{b}-{c}",
        d,
        f"+1 ({a}) {b}-{c}",
        f"+1-{a}-{b}-{c}",
    ][style % 8]


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _variant(rng: random.Random, name: str) -> str:
    """A Latin name as people type it: any case, full width, a zero-width space inside."""
    style = rng.randrange(6)
    if style == 0:
        return name.upper()
    if style == 1:
        return name.lower()
    if style == 2:
        return _fullwidth(name)
    if style == 3 and len(name) > 3:
        return name[:2] + "\u200b" + name[2:]
    return name


def _filler(rng: random.Random, korean: bool, n: int) -> list[str]:
    return rng.choices(WORDS_KO if korean else WORDS_EN, k=n)


def _plant(rng: random.Random, others: list[Person], target: Person) -> tuple[str, Planted]:
    """One identifier in one of its written forms."""
    kind = rng.choice(
        ["ko_name", "ko_given", "latin", "latin_given", "url", "file", "account", "matrix",
         "mention", "email", "phone_kr", "phone_us", "phone_unknown", "email_unknown",
         "matrix_unknown", "rrn", "label"]
    )  # fmt: skip
    korean = [p for p in others if not p.account.startswith("@")]
    latin = [p for p in others if p.account.startswith("@")]
    if kind == "ko_name":
        p = rng.choice(korean)
        name = p.names[0]
        if rng.random() < 0.2:
            name = unicodedata.normalize("NFD", name)
        return name + rng.choice(["", *PARTICLES]), Planted("name", p.names[0], p.account)
    if kind == "ko_given":
        p = rng.choice(korean)
        given = p.names[0][1:]
        return given + rng.choice(PARTICLES), Planted("name", given, p.account)
    if kind in ("latin", "latin_given", "url", "file", "label"):
        p = rng.choice(latin)
        first, last = p.names[0].split()
        if kind == "latin":
            surface = _variant(rng, rng.choice([f"{first} {last}", f"{last} {first}"]))
            return surface + rng.choice(["", "'s", ",", "!"]), Planted("name", surface, p.account)
        if kind == "latin_given":
            surface = _variant(rng, first)
            return surface, Planted("name", surface, p.account)
        if kind == "label":
            return f"{first} (work)", Planted("name", first, p.account)
        if kind == "url":
            surface = rng.choice([f"{first}.{last}", f"{first}{last}", first]).lower()
            return f"https://social.example/{surface}/photos", Planted("name", surface, p.account)
        surface = rng.choice([first, f"{first}_{last}"]).lower()
        return f"{surface}_birthday_{rng.randrange(2020, 2026)}.jpg", Planted(
            "name", surface, p.account
        )
    if kind == "account":
        p = rng.choice(korean)
        return p.account, Planted("account", p.account, p.account)
    if kind == "matrix":
        p = rng.choice(latin)
        return p.account, Planted("matrix", p.account, p.account)
    if kind == "mention":
        p = rng.choice(latin)
        return "@" + p.handles[0], Planted("account", p.handles[0], p.account)
    if kind == "email":
        p = rng.choice(others)
        email = p.emails[0]
        surface = email.upper() if rng.random() < 0.2 else email
        return surface, Planted("email", surface, p.account)
    if kind == "phone_kr":
        p = rng.choice(korean)
        surface = _korean_phone(p.phones[0], rng.randrange(8))
        return surface, Planted("phone", surface, p.account)
    if kind == "phone_us":
        p = rng.choice(latin)
        surface = _us_phone(p.phones[0], rng.randrange(8))
        return surface, Planted("phone", surface, p.account)
    if kind == "phone_unknown":
        if rng.random() < 0.5:
            surface = _korean_phone(f"+8210{rng.randrange(10**8):08d}", rng.randrange(8))
        else:
            surface = _us_phone(
                f"+1212{rng.randrange(200, 999)}{rng.randrange(10**4):04d}", rng.randrange(8)
            )
        return surface, Planted("phone", surface, None)
    if kind == "email_unknown":
        surface = f"stranger{rng.randrange(10**4)}@{rng.choice(DOMAINS)}"
        return surface, Planted("email", surface, None)
    if kind == "matrix_unknown":
        surface = f"@someone{rng.randrange(10**4)}:matrix.example"
        return surface, Planted("matrix", surface, None)
    yy, mm, dd = rng.randrange(50, 100), rng.randrange(1, 13), rng.randrange(1, 29)
    gender, serial = rng.randrange(1, 5), rng.randrange(10**6)
    surface = f"{yy:02d}{mm:02d}{dd:02d}{rng.choice(['-', ''])}{gender}{serial:06d}"
    return surface, Planted("rrn", surface, None)


def corpus(
    seed: int = 14, planted: int = 1500, ordinary: int = 1000
) -> tuple[Person, list[Person], list[Message]]:
    """(target, others, messages): `planted` messages with one to three identifiers each (and
    the target's own now and then), `ordinary` messages with none."""
    rng = random.Random(seed)
    target, others = people(rng)
    messages: list[Message] = []
    for _ in range(planted):
        korean = rng.random() < 0.5
        parts = _filler(rng, korean, rng.randrange(1, 5))
        found: list[Planted] = []
        for _ in range(rng.randrange(1, 4)):
            text, plant = _plant(rng, others, target)
            parts.insert(rng.randrange(len(parts) + 1), text)
            found.append(plant)
        if rng.random() < 0.2:
            parts.append(rng.choice([target.names[0], target.emails[0], "010-1234-0000"]))
        parts += _filler(rng, korean, rng.randrange(0, 4))
        messages.append(Message(" ".join(parts), tuple(found), False))
    for _ in range(ordinary):
        korean = rng.random() < 0.5
        words = _filler(rng, korean, rng.randrange(3, 15))
        if rng.random() < 0.3:
            words.append(f"{rng.randrange(1, 12)}시" if korean else f"at {rng.randrange(1, 12)}pm")
        messages.append(Message(" ".join(words), (), True))
    rng.shuffle(messages)
    return target, others, messages
