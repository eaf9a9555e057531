"""A released record's fields as the policy's text mode says they leave.

Per category the store's RecordShape says which fields are free text, room ids, quotes, or a
Matrix body or HTML body that may carry a reply fallback; `RecordMinimizer.apply` rewrites those
fields of a payload in place: room ids become per-warrant pseudonyms, quotes of anyone but a
target are withheld behind a marker naming the quoted sender's pseudonym, and every text goes
through the TextMinimizer (or is withheld, as the text mode says). The directory behind it is
read from the store on the first record that needs it, once per release.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping

from gateway.model import Category, FieldKind, Person, RecordShape, TextMode
from gateway.release.minimize.directory import AMBIGUOUS, TARGET, Directory
from gateway.release.minimize.quotes import strip_body, strip_html
from gateway.release.minimize.text import TextMinimizer
from gateway.release.pseudonyms import Pseudonymizer

TEXT_WITHHELD = "[text withheld]"
UNRESOLVED_WITHHELD = "[text withheld: it names someone the gateway cannot pseudonymize]"


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """What to do with one category's fields (from its RecordShape), computed once."""

    fields: frozenset[str]
    people: frozenset[str]
    text: tuple[str, ...]
    rooms: tuple[str, ...]
    quotes: tuple[str, ...]
    labels: tuple[str, ...]
    matrix_body: tuple[str, ...]
    matrix_html: tuple[str, ...]
    # No labels and no Matrix fields (the reference store's messages): `apply` takes its short
    # way, the same steps minus the loops that would find nothing.
    plain: bool = False

    @classmethod
    def of(cls, shape: RecordShape) -> Plan:
        labels = shape.names(FieldKind.LABEL)
        matrix_body = shape.names(FieldKind.MATRIX_BODY)
        matrix_html = shape.names(FieldKind.MATRIX_HTML)
        return cls(
            frozenset(shape.fields),
            shape.people,
            shape.names(FieldKind.TEXT),
            shape.names(FieldKind.ROOM),
            shape.names(FieldKind.QUOTE),
            labels,
            matrix_body,
            matrix_html,
            plain=not (labels or matrix_body or matrix_html),
        )


def plans(shapes: Mapping[Category, RecordShape]) -> dict[Category, Plan]:
    return {category: Plan.of(shape) for category, shape in shapes.items()}


class RecordMinimizer:
    """The text side of one release: counts identifiers replaced, quotes and texts withheld."""

    def __init__(
        self,
        people: Callable[[], Iterable[Person]],
        targets: frozenset[str],
        pseudonyms: Pseudonymizer,
        regions: Iterable[str] | None = None,
    ) -> None:
        self._people = people
        self._targets = targets
        self._pseudonyms = pseudonyms
        self._regions = tuple(regions) if regions is not None else None
        self._text: TextMinimizer | None = None
        self._directory: Directory | None = None
        self.quotes_withheld = 0
        self.texts_withheld = 0
        self._labels_replaced = 0

    @property
    def replaced(self) -> dict[str, int]:
        """Identifiers replaced in text so far, by kind (contact labels as "label")."""
        replaced = dict(self._text.replaced) if self._text is not None else {}
        if self._labels_replaced:
            replaced["label"] = replaced.get("label", 0) + self._labels_replaced
        return replaced

    def text_minimizer(self) -> TextMinimizer:
        if self._text is None:
            self._directory = Directory(self._people(), self._targets)
            self._text = (
                TextMinimizer(self._directory, self._pseudonyms)
                if self._regions is None
                else TextMinimizer(self._directory, self._pseudonyms, self._regions)
            )
        return self._text

    def apply(
        self,
        payload: dict[str, object],
        people: Mapping[str, str | tuple[str, ...]],
        plan: Plan,
        mode: TextMode,
    ) -> None:
        if plan.plain and mode is not TextMode.WITHHOLD:
            self._apply_plain(payload, people, plan, mode)
            return
        for name in plan.rooms:
            room = payload.get(name)
            if isinstance(room, str):
                payload[name] = self._pseudonyms.of_kind("room", room)
        contact = people.get("contact")
        own_label = isinstance(contact, str) and contact in self._targets
        labels = plan.labels if own_label else ()  # a target's own label: text like any other
        for name in () if own_label else plan.labels:
            if payload.get(name):
                # Whatever the target called a third party names that person: their pseudonym.
                who = self._pseudonyms(contact) if isinstance(contact, str) else None
                payload[name] = who or TEXT_WITHHELD
                self._labels_replaced += 1
        if mode is TextMode.WITHHOLD:
            for name in (*plan.text, *labels, *plan.quotes, *plan.matrix_body, *plan.matrix_html):
                if payload.get(name) is not None:
                    payload[name] = TEXT_WITHHELD
                    self.texts_withheld += 1
            return
        quoted = people.get("quoted")
        quoted_id = quoted if isinstance(quoted, str) else None
        quoted_is_target = quoted_id in self._targets
        counted = False
        for name in plan.quotes:
            value = payload.get(name)
            if value is None:
                continue
            if quoted_is_target:
                payload[name] = self.text_value(value, mode)
                continue
            forwarded = payload.get("forwarded") is True
            payload[name] = self.marker(quoted_id, None, forwarded)
            if not counted:
                self.quotes_withheld += 1
                counted = True
        reply = payload.get("reply") is True
        for name in plan.matrix_body:
            value = payload.get(name)
            if isinstance(value, str) and reply:
                rest, sender, had = strip_body(value)
                if had and not (
                    quoted_is_target or (quoted_id is None and sender in self._targets)
                ):
                    marker = self.marker(quoted_id, sender, False)
                    text = self.text_value(rest, mode) if rest else ""
                    payload[name] = f"{marker}\n{text}" if text else marker
                    if not counted:
                        self.quotes_withheld += 1
                        counted = True
                    continue
            if value is not None:
                payload[name] = self.text_value(value, mode)
        for name in plan.matrix_html:
            value = payload.get(name)
            if isinstance(value, str) and reply:
                rest, had = strip_html(value)
                if had and not quoted_is_target:
                    marker = self.marker(quoted_id, None, False)
                    text = self.text_value(rest, mode) if rest else ""
                    payload[name] = f"<p>{marker}</p>{text}"
                    if not counted:
                        self.quotes_withheld += 1
                        counted = True
                    continue
            if value is not None:
                payload[name] = self.text_value(value, mode)
        for name in (*plan.text, *labels):
            value = payload.get(name)
            if value is not None:
                payload[name] = self.text_value(value, mode)

    def _apply_plain(
        self,
        payload: dict[str, object],
        people: Mapping[str, str | tuple[str, ...]],
        plan: Plan,
        mode: TextMode,
    ) -> None:
        """`apply` for a plan without labels or Matrix fields, text not withheld: rooms,
        quotes, texts, in that order (the release's hot path: no loop that finds nothing)."""
        for name in plan.rooms:
            room = payload.get(name)
            if isinstance(room, str):
                payload[name] = self._pseudonyms.of_room(room)
        if plan.quotes:
            quoted = people.get("quoted")
            quoted_id = quoted if isinstance(quoted, str) else None
            counted = False
            for name in plan.quotes:
                value = payload.get(name)
                if value is None:
                    continue
                if quoted_id in self._targets:
                    payload[name] = self.text_value(value, mode)
                    continue
                payload[name] = self.marker(quoted_id, None, payload.get("forwarded") is True)
                if not counted:
                    self.quotes_withheld += 1
                    counted = True
        for name in plan.text:
            value = payload.get(name)
            if value is None:
                continue
            if isinstance(value, str) and value:
                minimize = self._text if self._text is not None else self.text_minimizer()
                text, unresolved = minimize(value)
                if unresolved and mode is TextMode.WITHHOLD_UNRESOLVED:
                    self.texts_withheld += 1
                    text = UNRESOLVED_WITHHELD
                payload[name] = text
            else:
                payload[name] = self.text_value(value, mode)

    def text_value(self, value: object, mode: TextMode) -> object:
        if isinstance(value, str):
            if not value:
                return value
            text, unresolved = self.text_minimizer()(value)
            if unresolved and mode is TextMode.WITHHOLD_UNRESOLVED:
                self.texts_withheld += 1
                return UNRESOLVED_WITHHELD
            return text
        if isinstance(value, (list, tuple)):
            return [self.text_value(v, mode) for v in value]
        return value  # not text (a store's bug): left to the payload check

    def marker(self, quoted: str | None, fallback_sender: str | None, forwarded: bool) -> str:
        """What stands where someone else's words were: whose they were, as a pseudonym."""
        what = "forwarded message" if forwarded else "quote"
        who = None
        if quoted is not None:
            who = self._pseudonyms(quoted)
        elif fallback_sender is not None:
            self.text_minimizer()
            exact = self._directory.exact if self._directory is not None else {}
            owner = exact.get(fallback_sender.lower(), AMBIGUOUS)
            if owner == TARGET:
                who = fallback_sender
            elif owner is not AMBIGUOUS:
                who = self._pseudonyms(owner)
            else:
                who = self._pseudonyms.of_kind("matrix", fallback_sender.lower())
        return f"[{what} of {who} withheld]" if who else f"[{what} withheld]"
