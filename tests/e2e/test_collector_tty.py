"""`collector interview` driven as a person would, under a real pseudo-terminal (issue #4,
"Done when"): the real command, the real encrypted kit, nothing mocked.

An interviewer reads the screen (the question header, the numbered choices) and types
what their notes say for that question, Enter for an optional one they have nothing
for; the expected response is built from what is typed. The runs go back once, switch
the language mid-way, have an answer refused, change an answer on the review screen (one
change removes answers that no longer apply) and finalize with ``:done``. The kit is
then unlocked here and the finalized record must hold exactly what was typed.

A second test SIGKILLs `collector interview` while an answer is being typed, then
(resumed with `collector drafts --resume` each time) at several moments right after one
is entered, and checks that the encrypted draft holds exactly the answers given before
(at most the one being typed is lost), that nothing is corrupt, and that the resumed
interview goes on from there to a finalized record holding every answer.

A third types a character cut short (bytes that are not UTF-8): it must be refused like
any typing mistake, not end the interview.

Forms are put into the kit the way ``Kit.accept_forms`` stores them, so no server is
needed. Every name and answer here is synthetic.
"""

from __future__ import annotations

import codecs
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
import pytest

from collector import keystore
from collector.cli import INSECURE_FAST_KDF, PASS_ENV
from collector.cli import main as collector
from collector.kit import Draft
from collector.vault import Vault
from schemas.forms import shipped_form
from schemas.survey import Item, Validator
from schemas.wire import Record

ROOT = Path(__file__).resolve().parents[2]
FORM = shipped_form("escapee-interview")
VALIDATOR = Validator(FORM)
PASSPHRASE = "a synthetic passphrase for the tty test"
RUN_LIMIT = 10.0  # seconds for one run of the command under the pty


# -- the kit ----------------------------------------------------------------------------------


def new_kit(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`collector init`, then the shipped form stored as Kit.accept_forms stores it."""
    monkeypatch.setenv(PASS_ENV, PASSPHRASE)
    monkeypatch.setenv(INSECURE_FAST_KDF, "1")
    assert collector(["--home", str(home), "init"]) == 0
    vault = open_vault(home)
    vault.put("form", f"{FORM.id}@{FORM.version}", msgspec.msgpack.encode(FORM))


def open_vault(home: Path) -> Vault:
    return Vault(home, keystore.unlock(home, PASSPHRASE).data_key)


def drafts(home: Path) -> list[Draft]:
    vault = open_vault(home)
    return [msgspec.msgpack.decode(vault.get("draft", i), type=Draft) for i in vault.list("draft")]


class Finalized(msgspec.Struct):
    """How the kit stores a finalized response: the record (and, not read here, the
    media types of its attachments)."""

    record: Record


def finals(home: Path) -> list[Record]:
    vault = open_vault(home)
    return [
        msgspec.msgpack.decode(vault.get("final", i), type=Finalized).record
        for i in vault.list("final")
    ]


def nothing_corrupt(home: Path) -> None:
    """Every object the index lists opens, authenticates and decodes; no torn temp file."""
    vault = open_vault(home)
    types: dict[str, type[Any]] = {"draft": Draft, "final": Finalized}
    for kind in ("form", "draft", "final"):
        for i in vault.list(kind):
            data = vault.get(kind, i)
            if kind in types:
                msgspec.msgpack.decode(data, type=types[kind])
    assert not list((home / "objects").glob("*.tmp"))  # opening the vault removed them


# -- a real pseudo-terminal -----------------------------------------------------------------


class Terminal:
    """`collector --home HOME ARGS…` on a pseudo-terminal; every read has a deadline."""

    def __init__(self, home: Path, *args: str) -> None:
        master, slave = pty.openpty()
        self.fd = master
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "collector.cli", "--home", str(home), *args],
            stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), PASS_ENV: PASSPHRASE},
        )  # fmt: skip
        os.close(slave)
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.buffer = ""
        self.seen = ""
        self.eof = False

    def _read(self, deadline: float, waiting_for: str) -> None:
        ready, _, _ = select.select([self.fd], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            raise AssertionError(f"timed out waiting for {waiting_for}; screen:\n{self.buffer}")
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the child has gone
            data = b""
        if not data:
            self.eof = True
            return
        self.buffer = (self.buffer + self.decoder.decode(data)).replace("\r\n", "\n")

    def _take(self, end: int) -> str:
        got, self.buffer = self.buffer[:end], self.buffer[end:]
        self.seen += got
        return got

    def prompt(self, timeout: float = 5.0) -> str:
        """Everything shown until the command waits for a line: ``> `` at a question or
        a confirmation, ``: `` on the review screen."""
        deadline = time.monotonic() + timeout
        while not self.buffer.endswith(("\n> ", "\n: ")):
            if self.eof:
                raise AssertionError(f"exited while a prompt was awaited; screen:\n{self.buffer}")
            self._read(deadline, "a prompt")
        return self._take(len(self.buffer))

    def expect(self, text: str, timeout: float = 5.0) -> str:
        deadline = time.monotonic() + timeout
        while text not in self.buffer:
            if self.eof:
                raise AssertionError(f"exited before {text!r}; screen:\n{self.buffer}")
            self._read(deadline, repr(text))
        return self._take(self.buffer.index(text) + len(text))

    def type(self, line: str | bytes) -> None:
        os.write(self.fd, (line.encode("utf-8") if isinstance(line, str) else line) + b"\n")

    def exit_code(self, timeout: float = 5.0) -> int:
        """Read what is left until the command exits; its exit code."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            self._read(deadline, "the command to exit")
        self._take(len(self.buffer))
        return self.proc.wait(timeout=max(deadline - time.monotonic(), 0.1))

    def sigkill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        assert self.proc.wait(timeout=5) == -signal.SIGKILL

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)
        os.close(self.fd)


# -- reading the screen -------------------------------------------------------------------------


def _items(items: tuple[Item, ...], repeat: str | None = None) -> Iterator[tuple[Item, str | None]]:
    for it in items:
        if it.type == "group":
            yield from _items(it.items, repeat)
        elif it.type == "repeat":
            yield it, repeat
            yield from _items(it.items, it.name)
        elif it.type != "note":
            yield it, repeat


#: A question's label as shown → (name, the repeat it belongs to, language).
LABELS: dict[str, tuple[str, str | None, str]] = {}
#: A repeat's label → (name, language), for "add another entry?".
REPEATS: dict[str, tuple[str, str]] = {}
for _it, _rep in _items(FORM.items):
    for _lang, _text in _it.label.items():
        if _it.type == "repeat":
            REPEATS[_text] = (_it.name, _lang)
        else:
            assert _text not in LABELS, _text
            LABELS[_text] = (_it.name, _rep, _lang)

HEADER = re.compile(r"^\[(\d+)/(\d+)\] (.*)$", re.M)
OPTION = re.compile(r"^    (\d+)\. (.*)$", re.M)
ENTRY = re.compile(r"^── .* (\d+) ──$", re.M)  # the section line of a repeat's entry
MARKERS = {
    " (필수)": True,
    " (required)": True,
    " (선택: Enter를 누르면 건너뜁니다)": False,
    " (optional: Enter skips)": False,
}


@dataclass(frozen=True)
class Shown:
    """The question on the screen, as an interviewer reads it."""

    name: str  # "+detention" for "add another detention entry?"
    repeat: str | None
    lang: str
    required: bool
    options: dict[int, str]
    screen: str


def read_question(screen: str) -> Shown | None:
    headers = list(HEADER.finditer(screen))
    if not headers:
        return None
    m = headers[-1]
    text = m.group(3)
    options = {int(o.group(1)): o.group(2) for o in OPTION.finditer(screen, m.end())}
    for marker, required in MARKERS.items():
        if text.endswith(marker):
            name, repeat, lang = LABELS[text.removesuffix(marker)]
            return Shown(name, repeat, lang, required, options, screen)
    for label, (name, lang) in REPEATS.items():
        if text.startswith((label + " — ", label + ": ")):
            return Shown("+" + name, None, lang, True, options, screen)
    raise AssertionError(f"a question this form does not have: {text!r}")


def choice_values(name: str, lang: str, labels: list[str]) -> list[str]:
    choices = FORM.item(name).choices
    assert choices is not None
    by_label = {c.label[lang]: c.value for c in FORM.choices[choices]}
    return [by_label[label] for label in labels]


# -- the interviewer ------------------------------------------------------------------------


REFUSED = object()  # an answer the kit must refuse (and ask again)


class Say(NamedTuple):
    """An answer typed at a question and the value the response must then hold; with
    ``drops``, the answers the kit must list as no longer applying (confirmed with y)."""

    typed: str | bytes  # bytes: what a terminal sent that is not UTF-8
    value: Any
    drops: tuple[str, ...] = ()


#: Per question name, in the order the question comes up: a :class:`Say`, or a command.
Plan = dict[str, list["Say | str"]]


class Interviewer:
    """Reads each screen and types what the plan says for the question shown."""

    def __init__(self, term: Terminal, plan: Plan, answers: dict[str, Any] | None = None):
        self.term = term
        self.todo = {k: list(v) for k, v in plan.items()}
        self.expected: dict[str, Any] = dict(answers or {})
        self.asked: list[str] = []
        self.entry = 0
        self.question: Shown | None = None
        self.refusal_due = False
        self.pending: tuple[Shown, Say] | None = None  # waiting for "remove these? (y/n)"

    def go(self, stop_at: str | None = None) -> str:
        """Answer until the review screen (returned), or until ``stop_at`` is asked (its
        screen returned, nothing typed)."""
        while True:
            screen = self.term.prompt()
            for m in ENTRY.finditer(screen):
                self.entry = int(m.group(1)) - 1
            if screen.endswith("\n: "):
                assert not self.refusal_due and self.pending is None, screen
                return screen
            if self.pending is not None:
                self.confirm_drops(screen)
                continue
            refused, self.refusal_due = self.refusal_due, False
            assert ("  ! " in screen) == refused, screen
            q = read_question(screen)
            if q is None:
                assert refused and self.question is not None, screen  # asked again
                q = self.question
            self.question = q
            if q.name == stop_at:
                return screen
            self.asked.append(q.name)
            todo = self.todo.get(q.name)
            step = todo.pop(0) if todo else None
            if step is None:  # nothing in the notes: Enter skips it (or keeps its answer)
                kept = any(c in screen for c in ("현재 답: ", "Current answer: "))
                assert kept or not q.required, f"nothing planned for {q.name}:\n{screen}"
                self.term.type("")
            elif isinstance(step, str):
                self.term.type(step)  # a command
            else:
                self.term.type(step.typed)
                if step.value is REFUSED:
                    self.refusal_due = True
                elif step.drops:
                    self.pending = (q, step)
                elif not q.name.startswith("+"):  # "add another?" stores no answer itself
                    self.store(q, step)

    def confirm_drops(self, screen: str) -> None:
        assert self.pending is not None
        q, step = self.pending
        self.pending = None
        assert screen.endswith("(y/n)\n> "), screen
        for name in step.drops:
            assert f"  - {FORM.item(name).label[q.lang]}\n" in screen, (name, screen)
            del self.expected[name]
        self.term.type("y")
        self.store(q, step)

    def store(self, q: Shown, step: Say) -> None:
        item = FORM.item(q.name)
        typed = step.typed if isinstance(step.typed, str) else ""
        if item.type in ("select_one", "select_multiple") and typed[:1].isdigit():
            # What the number typed stands for on this screen (choices may be filtered).
            shown = [q.options[int(n)] for n in typed.split()]
            values = choice_values(q.name, q.lang, shown)
            assert (values if item.type == "select_multiple" else values[0]) == step.value
        if q.repeat is None:
            self.expected[q.name] = step.value
        else:
            entries = self.expected.setdefault(q.repeat, [])
            while len(entries) <= self.entry:
                entries.append({})
            entries[self.entry][q.name] = step.value

    def change_on_review(self, review: str, label: str) -> None:
        """Type the number the review screen gives the answer to ``label``."""
        m = re.search(rf"^\s*(\d+)\. {re.escape(label)}: ", review, re.M)
        assert m is not None, review
        self.term.type(m.group(1))

    def unused(self) -> dict[str, list[Say | str]]:
        return {k: v for k, v in self.todo.items() if v}


# -- interviews in both languages ------------------------------------------------------------

KO_PLAN: Plan = {
    "consent": [Say("1", "yes")],
    "interview_date": [Say("2024-04-12", "2024-04-12")],
    "interviewer_code": [Say("KR204", "KR204")],
    "respondent_name": [Say("최합성", "최합성")],
    "sex": [Say("2", "male")],
    "birth_year": [Say("1915", REFUSED), Say("1983", 1983)],
    "province_of_origin": [Say("2", "south_hamgyong"), Say("3", "ryanggang")],
    "departure_year": [":back", Say("2017", 2017)],  # back: province_of_origin changed
    "departure_route": [Say("1", "land_china")],
    "crossing_province": [Say("2", "ryanggang")],  # numbered among China's border only
    "arrival_year": [Say("2019", 2019)],
    "years_in_third_country": [Say("2", 2)],  # required: two years between
    "household_size": [Say("4", 4)],
    "meals_per_day": [Say("2", 2), Say("3", 3)],  # the second on the review screen
    "food_sources": [Say("2 3", ["market", "own_plot"])],
    "market_trading": [Say("예", True)],
    "needed_care": [Say("아니요", False)],
    "school_attended": [":lang en", Say("n", False)],
    "assigned_work": [Say("no", False)],
    "was_detained": [Say("y", True)],
    "facility_type": [Say("4", "kuryujang")],
    "detention_year": [Say("2012", 2012)],
    "duration_months": [Say("5", 5)],
    "treatment": [Say("1 3", ["beatings", "forced_labour"])],
    "detention_notes": [
        Say("합성 기록: 조사 중 구타 (synthetic)", "합성 기록: 조사 중 구타 (synthetic)")
    ],
    "+detention": [Say("n", None)],
    "ever_repatriated": [Say("n", False)],
    "household_disability": [Say("3", ["none"])],
    "paid_bribes": [Say("n", False)],
    "share_consent": [Say("1", "anonymised_reports")],
    "closing_notes": [Say("synthetic closing note", "synthetic closing note")],
}

EN_PLAN: Plan = {
    "consent": [Say("yes", "yes")],
    "interview_date": [Say("2024-07-20", "2024-07-20")],
    "interviewer_code": [Say("EN771", "EN771")],
    "respondent_name": [Say("박합성", "박합성")],
    "sex": [
        Say("1", "female"),
        Say("2", "male", drops=("menstrual_products", "womens_union_mobilisation")),
    ],
    "birth_year": [Say("1990", 1990)],
    "province_of_origin": [Say("11", "rason")],
    "departure_year": [Say("1985", REFUSED), Say("2020", 2020)],  # before the birth year
    "occupation": [Say("9", "other")],
    "occupation_other": [Say("synthetic: textile mill", "synthetic: textile mill")],
    "meals_per_day": [Say("3", 3), Say("1", 1)],  # the second after going back
    "grain_kg_per_month": [":back", Say("10.5", 10.5)],
    "covid_effects": [Say("1 2", ["food_shortage", "price_rise"])],
    "needed_care": [Say("n", False)],
    "menstrual_products": [Say("2", "reusable_cloth")],
    "school_attended": [":lang ko", Say("아니요", False)],
    "assigned_work": [Say("예", True)],
    "assigned_work_pay": [Say("3", "unpaid")],
    "womens_union_mobilisation": [Say("2", "often")],
    "was_detained": [Say("아니요", False)],
    "ever_repatriated": [Say("아니요", False)],
    "household_disability": [Say("3", ["none"])],
    "paid_bribes": [Say("아니요", False)],
    "share_consent": [Say("2", "share_un_partners")],
    "closing_notes": [Say("감사합니다 (합성 응답)", "감사합니다 (합성 응답)")],
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("lang", "plan", "changed", "final_lang", "on_screen"),
    [
        (
            "ko",
            KO_PLAN,
            "Usually, how many meals a day did you eat?",
            "en",
            ["현재 답: 함경남도  (Enter를 누르면 그대로 둡니다)", "Language: English"],
        ),
        (
            "en",
            EN_PLAN,
            "성별",
            "ko",
            ["Current answer: 3  (Enter keeps it)", "화면 언어: 한국어"],
        ),
    ],
)
def test_a_person_interviews_with_the_collector_command(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lang: str,
    plan: Plan,
    changed: str,
    final_lang: str,
    on_screen: list[str],
) -> None:
    home = tmp_path / "kit"
    new_kit(home, monkeypatch)
    term = Terminal(home, "interview", FORM.id, "--lang", lang)
    try:
        person = Interviewer(term, plan)
        review = person.go()
        assert person.asked[0] == "consent" and person.question is not None
        assert person.question.lang == final_lang  # switched mid-way
        person.change_on_review(review, changed)
        review = person.go()
        assert person.unused() == {}, "planned answers never asked"
        term.type(":done")
        term.expect("interview finalized (complete)")
        assert term.exit_code() == 0
        elapsed = time.monotonic() - term.started
    finally:
        term.close()
    screen = term.seen
    for text in on_screen:
        assert text in screen
    assert re.search(r"^\s*\d+\. " + re.escape(changed) + r": ", review, re.M)

    assert drafts(home) == []  # finalizing removed the draft
    [record] = finals(home)
    assert record.answers == person.expected  # exactly what was typed
    assert record.form_id == FORM.id and record.form_version == FORM.version
    assert record.lang == final_lang and record.stopped_early is False
    assert VALIDATOR.validate(record.answers) == []
    VALIDATOR.check(record.answers)
    nothing_corrupt(home)
    assert elapsed < RUN_LIMIT, elapsed


# -- SIGKILL while answering ---------------------------------------------------------------

BEFORE_THE_KILL: Plan = {
    "consent": [Say("1", "yes")],
    "interview_date": [Say("2024-02-03", "2024-02-03")],
    "interviewer_code": [Say("KL909", "KL909")],
    "respondent_name": [Say("한합성", "한합성")],
    "sex": [Say("1", "female")],
    "birth_year": [Say("1972", 1972)],
    "province_of_origin": [Say("4", "chagang")],
}
#: Answers each entered and SIGKILLed after the delay: at once, while it is checked and
#: saved, and (most likely) after it is saved.
RACED: list[tuple[float, str, Say]] = [
    (0.0, "departure_year", Say("2016", 2016)),
    (0.0005, "departure_route", Say("1", "land_china")),
    (0.002, "crossing_province", Say("2", "ryanggang")),
    (0.05, "arrival_year", Say("2018", 2018)),
]
TO_THE_END: Plan = {
    "years_in_third_country": [Say("1", 1)],  # required: two years between
    "meals_per_day": [Say("2", 2)],
    "needed_care": [Say("아니요", False)],
    "menstrual_products": [Say("4", "nothing")],
    "school_attended": [Say("예", True)],
    "education_level": [Say("2", "lower_middle")],
    "assigned_work": [Say("아니요", False)],
    "was_detained": [Say("아니요", False)],
    "ever_repatriated": [Say("예", True)],
    "repatriation_times": [Say("1", 1)],
    "household_disability": [Say("1", ["self"])],
    "paid_bribes": [Say("아니요", False)],
    "share_consent": [Say("3", "internal_only")],
}


@pytest.mark.slow
def test_sigkill_while_answering_loses_at_most_the_answer_being_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "kit"
    new_kit(home, monkeypatch)

    # 1. Seven answers given; the eighth half typed (no Enter) when the kill comes.
    term = Terminal(home, "interview", FORM.id, "--lang", "ko")
    try:
        person = Interviewer(term, BEFORE_THE_KILL)
        person.go(stop_at="departure_year")
        os.write(term.fd, b"201")
        time.sleep(0.05)
        term.sigkill()
        assert time.monotonic() - term.started < RUN_LIMIT
    finally:
        term.close()
    [draft] = drafts(home)
    assert draft.answers == person.expected and len(draft.answers) == 7
    assert draft.lang == "ko" and draft.form_id == FORM.id and finals(home) == []
    nothing_corrupt(home)
    capsys.readouterr()
    assert collector(["--home", str(home), "drafts"]) == 0
    listed = capsys.readouterr().out
    assert f"{draft.draft_id[:8]}  {FORM.id} v{FORM.version}" in listed
    assert "7 answers" in listed

    # 2. Resumed each time where it stopped; an answer entered, then a SIGKILL.
    answers, outcomes = draft.answers, []
    retype: Plan = {}  # an answer lost to the kill, typed again after resuming
    for delay, name, say in RACED:
        term = Terminal(home, "drafts", "--resume", draft.draft_id[:8])
        try:
            person = Interviewer(term, retype, answers)
            person.go(stop_at=name)
            assert person.unused() == {}
            if not retype:
                assert person.asked == []  # resumed at the question that was being typed
            before = dict(person.expected)
            term.type(say.typed)
            time.sleep(delay)
            term.sigkill()
            assert time.monotonic() - term.started < RUN_LIMIT
        finally:
            term.close()
        [again] = drafts(home)
        assert again.draft_id == draft.draft_id and again.record_id == draft.record_id
        after = {**before, name: say.value}
        assert again.answers in (before, after), (name, delay, again.answers)
        nothing_corrupt(home)
        saved = again.answers == after
        outcomes.append(saved)
        answers, retype = again.answers, ({} if saved else {name: [say]})
    print(f"answers saved before the SIGKILL: {outcomes}")

    # 3. Resumed again and finished: the record holds every answer given, once.
    term = Terminal(home, "drafts", "--resume", draft.draft_id[:8])
    try:
        person = Interviewer(term, {**retype, **TO_THE_END}, answers)
        person.go()
        assert person.unused() == {}
        term.type(":done")
        term.expect("interview finalized (complete)")
        assert term.exit_code() == 0
        assert time.monotonic() - term.started < RUN_LIMIT
    finally:
        term.close()
    assert drafts(home) == []
    [record] = finals(home)
    assert record.answers == person.expected
    assert set(record.answers) == {*BEFORE_THE_KILL, *(n for _, n, _ in RACED), *TO_THE_END}
    assert record.record_id == draft.record_id and record.stopped_early is False
    assert VALIDATOR.validate(record.answers) == []
    nothing_corrupt(home)


# -- what a terminal can send ------------------------------------------------------------------


@pytest.mark.slow
def test_a_broken_character_is_refused_and_the_interview_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bytes that are not UTF-8 (a character cut in half by a terminal or an input method,
    a paste from a terminal in another encoding) are a typing mistake: asked again, the
    interview goes on and the answers saved stay saved."""
    home = tmp_path / "kit"
    new_kit(home, monkeypatch)
    plan: Plan = {k: BEFORE_THE_KILL[k] for k in ("consent", "interview_date", "interviewer_code")}
    cut = "한합성".encode()[:-1]  # the last character cut short
    plan["respondent_name"] = [Say(cut, REFUSED), Say("한합성", "한합성")]
    term = Terminal(home, "interview", FORM.id, "--lang", "ko")
    try:
        person = Interviewer(term, plan)
        person.go(stop_at="sex")
        assert person.asked == [*plan, "respondent_name"]  # the name asked twice
        assert "Traceback" not in term.seen
        assert time.monotonic() - term.started < RUN_LIMIT
    finally:
        term.close()
    [draft] = drafts(home)
    assert draft.answers == person.expected
    assert draft.answers["respondent_name"] == "한합성"
