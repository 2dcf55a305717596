"""Interviews in a terminal, and responses typed in from paper (issue #4, "Interviews").

:class:`Interview` (in :mod:`collector._interview_engine`) is the engine: the current
question, typed answers checked against the form, back, skip, review and change, stop.
:func:`run_terminal` puts it on a terminal: one question at a time with its hint and
numbered choices, plain line-based input and output (so it works in any terminal, over
ssh and under a pseudo-terminal), commands typed at the prompt (``:help`` lists them).
:func:`answers_from_file` reads a whole response from TOML or JSON for data entry from
paper, checked the same way, with every problem reported at once.

Storage is the caller's business: ``on_change`` receives the response after every change
and must save it (encrypted) before returning; this module writes nothing to disk.

``python -m collector.interview`` asks a shipped form in this terminal and prints the
response as JSON at the end. It is a test entry point (the terminal tests drive it through
a real pseudo-terminal); the field command is ``collector interview``.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path as FilePath
from typing import IO, Any, Literal

from schemas.errors import Problem, ResponseInvalid
from schemas.survey import Form, Validator

from ._interview_engine import Interview, Option, Path, Question, Refusal, ReviewEntry, path_str

__all__ = [
    "Interview",
    "Option",
    "Outcome",
    "Path",
    "Question",
    "Refusal",
    "ReviewEntry",
    "answers_from_file",
    "path_str",
    "run_terminal",
]

#: How a terminal interview ended: finalized (valid and complete), paused (resume later
#: from the saved draft) or stopped (the respondent stopped; valid as ``stopped_early``).
Outcome = Literal["finalized", "paused", "stopped"]

_UI: dict[str, dict[str, str]] = {
    "intro": {
        "ko": "한 번에 한 질문씩 묻습니다. 명령은 :help 로 볼 수 있습니다.",
        "en": "One question at a time. Type :help for the commands.",
    },
    "help": {
        "ko": "명령 (질문 자리에 입력합니다):\n"
        "  :back        이전 질문으로 돌아갑니다\n"
        "  :skip        이 질문을 건너뜁니다 (필수가 아닌 질문)\n"
        "  :lang en|ko  화면 언어를 바꿉니다\n"
        "  :review      지금까지의 답을 보고 고칩니다\n"
        "  :stop        응답자가 면담을 멈춥니다 (한 번 더 묻습니다)\n"
        "  :pause       저장하고 나갑니다 (나중에 이어서 합니다)\n"
        "  :help        이 도움말\n"
        "답은 Enter로 마칩니다. 답이 ':'로 시작하면 '::'로 시작해 적으십시오.",
        "en": "Commands (type them at the prompt):\n"
        "  :back        go back to the previous question\n"
        "  :skip        skip this question (optional questions)\n"
        "  :lang en|ko  switch the language\n"
        "  :review      see and change the answers so far\n"
        "  :stop        the respondent stops the interview (asks to confirm)\n"
        "  :pause       save and leave; resume later\n"
        "  :help        this help\n"
        "Press Enter after each answer. An answer that starts with ':' is typed as '::'.",
    },
    "required": {"ko": "(필수)", "en": "(required)"},
    "optional": {"ko": "(선택: Enter를 누르면 건너뜁니다)", "en": "(optional: Enter skips)"},
    "current": {
        "ko": "현재 답: {v}  (Enter를 누르면 그대로 둡니다)",
        "en": "Current answer: {v}  (Enter keeps it)",
    },
    "t_integer": {"ko": "(정수)", "en": "(whole number)"},
    "t_decimal": {"ko": "(숫자, 예: 12.5)", "en": "(number, e.g. 12.5)"},
    "t_year": {"ko": "(연도, 예: 1985)", "en": "(year, e.g. 1985)"},
    "t_date": {"ko": "(날짜, YYYY-MM-DD)", "en": "(date, YYYY-MM-DD)"},
    "t_select_multiple": {
        "ko": "(여러 개를 고를 수 있습니다: 번호를 띄어 쓰십시오, 예: 1 3)",
        "en": "(choose any: numbers separated by spaces, e.g. 1 3)",
    },
    "unknown": {
        "ko": "알 수 없는 명령입니다: {cmd}  (:help 를 입력하십시오)",
        "en": "Unknown command: {cmd}  (type :help)",
    },
    "first": {"ko": "첫 질문입니다.", "en": "This is the first question."},
    "lang_bad": {"ko": "이 면담지의 언어: {langs}", "en": "This form's languages: {langs}"},
    "lang_ok": {"ko": "화면 언어: 한국어", "en": "Language: English"},
    "stop_hint": {
        "ko": "응답자가 더 답하지 않으려 하시면 :stop 으로 면담을 멈출 수 있습니다.",
        "en": "If the respondent does not want to go on, :stop ends the interview.",
    },
    "stop_confirm": {
        "ko": "응답자가 면담을 멈추려 하십니까? 지금까지의 답은 저장되고 더 묻지 않습니다. (y/n)",
        "en": "Does the respondent want to stop the interview? The answers so far are kept "
        "and nothing more is asked. (y/n)",
    },
    "stopped": {
        "ko": "면담을 멈췄습니다. 지금까지의 답은 저장되었습니다. 시간을 내 주셔서 감사합니다.",
        "en": "The interview has stopped. The answers given so far are saved. "
        "Thank you for your time.",
    },
    "go_on": {"ko": "면담을 계속합니다.", "en": "The interview goes on."},
    "paused": {
        "ko": "면담을 잠시 멈춥니다. 모든 답은 저장되었으니 나중에 이어서 하실 수 있습니다.",
        "en": "Interview paused. Every answer is saved; it can be resumed later.",
    },
    "end": {"ko": "모든 질문을 마쳤습니다.", "en": "All questions are done."},
    "review": {"ko": "── 검토 ──", "en": "── Review ──"},
    "review_none": {"ko": "아직 답이 없습니다.", "en": "No answers yet."},
    "review_help": {
        "ko": "번호: 그 답 고치기 · :done 마치기 · Enter: 면담 계속 · :help",
        "en": "number: change that answer · :done finish · Enter: go on · :help",
    },
    "review_help_end": {
        "ko": "번호: 그 답 고치기 · :done 마치기 · :back 마지막 질문으로 · :help",
        "en": "number: change that answer · :done finish · :back last question · :help",
    },
    "review_cmds": {
        "ko": "검토 화면: 번호를 입력하면 그 답을 고칩니다. :done 면담을 마칩니다.\n"
        "Enter 면담으로 돌아갑니다. :back :lang :pause :stop 도 쓸 수 있습니다.",
        "en": "Review: type a number to change that answer; :done finishes the interview.\n"
        "Enter returns to the interview. :back :lang :pause :stop also work here.",
    },
    "no_number": {"ko": "목록에 없는 번호입니다.", "en": "There is no such number in the list."},
    "problems": {"ko": "마치기 전에 고쳐야 할 것이 있습니다:", "en": "Fix these before finishing:"},
    "finalized": {
        "ko": "면담을 마쳤습니다. 응답이 저장되었습니다.",
        "en": "The interview is complete and the response is saved.",
    },
    "drops": {
        "ko": "이렇게 바꾸면 더 이상 해당하지 않는 답 {n}개가 지워집니다:",
        "en": "This change removes {n} answer(s) that would no longer apply:",
    },
    "drops_ok": {"ko": "그래도 바꾸시겠습니까? (y/n)", "en": "Change it anyway? (y/n)"},
    "kept": {"ko": "바꾸지 않았습니다.", "en": "Nothing was changed."},
}

_YES = frozenset({"y", "yes", "예", "네", "응", "ㅇ", "1"})


def run_terminal(
    interview: Interview,
    *,
    stdin: IO[str] | None = None,
    stdout: IO[str] | None = None,
    on_change: Callable[[dict[str, Any]], None] | None = None,
) -> Outcome:
    """Ask ``interview`` on a terminal until it is finalized, paused or stopped.

    ``on_change``, if given, becomes the interview's callback: it receives the response
    after every change and must save it before returning. End of input and Ctrl-C pause
    the interview (everything answered is already saved).
    """
    if on_change is not None:
        interview.on_change = on_change
    term = _Terminal(interview, stdin or sys.stdin, stdout or sys.stdout)
    try:
        return term.run()
    except KeyboardInterrupt:
        term.say("", term.ui("paused"))
        return "paused"


class _Terminal:
    def __init__(self, iv: Interview, stdin: IO[str], stdout: IO[str]) -> None:
        self.iv = iv
        self.stdin = stdin
        self.stdout = stdout
        self.section: str | None = None
        self.shown: Path | None = None

    # -- input and output ---------------------------------------------------------------------

    def ui(self, key: str, **fmt: Any) -> str:
        m = _UI[key]
        return m.get(self.iv.lang, m["en"]).format(**fmt)

    def say(self, *lines: str) -> None:
        for line in lines:
            self.stdout.write(line + "\n")
        self.stdout.flush()

    def ask(self, prompt: str = "> ") -> str | None:
        self.stdout.write(prompt)
        self.stdout.flush()
        line = self.stdin.readline()
        if not line:
            return None
        return line.rstrip("\r\n")

    def confirm(self, question: str) -> bool | None:
        self.say(question)
        line = self.ask()
        return None if line is None else line.strip().lower() in _YES

    # -- the interview --------------------------------------------------------------------------

    def run(self) -> Outcome:
        form = self.iv.form
        self.say(form.title.get(self.iv.lang, form.id), self.ui("intro"))
        at_end = False
        while True:
            q = self.iv.current()
            if q is None:
                if not at_end:
                    self.say("", *(f"※ {n}" for n in self.iv.end_notes()), self.ui("end"))
                    at_end = True
                outcome = self.review(final=True)
                if outcome is not None:
                    return outcome
                continue
            at_end = False
            if q.path != self.shown:
                self.show(q)
            line = self.ask()
            if line is None:
                self.say("", self.ui("paused"))
                return "paused"
            if line.startswith(":") and not line.startswith("::"):
                outcome = self.command(line.strip(), q)
                if outcome is not None:
                    return outcome
                continue
            text = line[1:] if line.startswith("::") else line
            if q.value is not None and not self.keep_despite_drops(self.iv.drops(text)):
                self.shown = None
                continue
            self.refused(self.iv.answer(text))

    def show(self, q: Question) -> None:
        self.shown = q.path
        self.say("")
        if q.section and q.section != self.section:
            self.say(f"── {q.section} ──")
        self.section = q.section
        for note in q.notes:
            self.say(f"※ {note}", "")
        marker = (
            ""
            if q.kind == "add_another"
            else " " + self.ui("required" if q.required else "optional")
        )
        self.say(f"[{q.number}/{q.total}] {q.label}{marker}")
        if q.hint:
            self.say(f"    {q.hint}")
        for o in q.options:
            self.say(f"    {o.number}. {o.label}")
        if f"t_{q.type}" in _UI:
            self.say("    " + self.ui(f"t_{q.type}"))
        if q.shown is not None:
            self.say("    " + self.ui("current", v=q.shown))

    def refused(self, refusal: Refusal | None) -> None:
        if refusal is None:
            return
        self.say(f"  ! {refusal.message(self.iv.lang)}")
        if refusal.code == "required":
            self.say(f"    {self.ui('stop_hint')}")

    def keep_despite_drops(self, drops: list[Path]) -> bool:
        if not drops:
            return True
        self.say(self.ui("drops", n=len(drops)), *(f"  - {self.iv.label_of(p)}" for p in drops))
        ok = self.confirm(self.ui("drops_ok"))
        if not ok:
            self.say(self.ui("kept"))
        return bool(ok)

    def command(self, line: str, q: Question | None) -> Outcome | None:
        cmd, _, arg = line.partition(" ")
        arg = arg.strip()
        if cmd != ":skip":
            self.shown = None  # show the question again after the command's output
        if cmd == ":back":
            if not self.iv.back():
                self.say(self.ui("first"))
        elif cmd == ":skip" and q is not None:
            if q.value is None or self.keep_despite_drops(self.iv.drops(None)):
                self.refused(self.iv.skip())
        elif cmd == ":lang":
            langs = self.iv.form.languages
            if not arg:
                arg = langs[(langs.index(self.iv.lang) + 1) % len(langs)]
            if arg in langs:
                self.iv.set_lang(arg)
                if self.iv.on_change is not None:  # the draft records its language too
                    self.iv.on_change(self.iv.answers)
                self.section = None
                self.say(self.ui("lang_ok"))
            else:
                self.say(self.ui("lang_bad", langs=", ".join(langs)))
        elif cmd == ":review" and q is not None:
            return self.review(final=False)
        elif cmd == ":stop":
            return self.stop()
        elif cmd == ":pause":
            self.say("", self.ui("paused"))
            return "paused"
        elif cmd == ":help":
            self.say(self.ui("help") if q is not None else self.ui("review_cmds"))
        else:
            self.say(self.ui("unknown", cmd=cmd))
        return None

    def stop(self) -> Outcome | None:
        ok = self.confirm(self.ui("stop_confirm"))
        if ok is None:
            self.say("", self.ui("paused"))
            return "paused"
        if not ok:
            self.say(self.ui("go_on"))
            return None
        self.iv.stop()
        problems = self.iv.finalize()
        if problems:  # an answer breaks a rule: the interviewer fixes it on the review screen
            self.show_problems(problems)
            return None
        self.say("", self.ui("stopped"))
        return "stopped"

    def show_problems(self, problems: list[Problem]) -> None:
        self.say("", self.ui("problems"), *(f"  - {self.iv.describe(p)}" for p in problems))

    # -- the review screen ----------------------------------------------------------------------

    def review(self, *, final: bool) -> Outcome | None:
        """The review screen; ``None`` to go back to asking questions."""
        self.shown = None  # whichever question comes next is shown in full
        while True:
            entries = self.iv.review()
            self.list_answers(entries)
            self.say(self.ui("review_help_end" if final else "review_help"))
            line = self.ask(": ")
            if line is None:
                self.say("", self.ui("paused"))
                return "paused"
            line = line.strip()
            if line == "":
                if final:
                    continue
                return None
            if line.isascii() and line.isdigit():
                n = int(line)
                if 1 <= n <= len(entries):
                    self.iv.change(entries[n - 1].path)
                    self.shown = None
                    return None
                self.say(self.ui("no_number"))
                continue
            if line == ":done":
                problems = self.iv.finalize()
                if problems:
                    self.show_problems(problems)
                    continue
                stopped = self.iv.stopped_early
                self.say("", self.ui("stopped" if stopped else "finalized"))
                return "stopped" if stopped else "finalized"
            if line == ":back":
                if self.iv.back():
                    return None
                self.say(self.ui("first"))
                continue
            if line.split(" ")[0] in (":lang", ":pause", ":stop", ":help"):
                outcome = self.command(line, None)
                if outcome is not None:
                    return outcome
                continue
            self.say(self.ui("unknown", cmd=line))

    def list_answers(self, entries: list[ReviewEntry]) -> None:
        self.say("", self.ui("review"))
        if not entries:
            self.say(self.ui("review_none"))
        section: str | None = None
        for e in entries:
            if e.section and e.section != section:
                self.say(f"  [{e.section}]")
            section = e.section
            flag = f"   ! {e.problem}" if e.problem else ""
            self.say(f"{e.number:>4}. {e.label}: {e.shown}{flag}")


# -- answers typed in from paper --------------------------------------------------------------


def answers_from_file(
    form: Form, path: str | os.PathLike[str], *, stopped_early: bool = False
) -> dict[str, Any]:
    """A whole response from a TOML or JSON file, checked against ``form``.

    The file holds the answers map of survey-language §8 (TOML tables and arrays of
    tables for repeats; TOML dates are taken as ``YYYY-MM-DD``). Raises
    :class:`~schemas.errors.ResponseInvalid` listing every problem at once, with paths
    and never the answers; an unreadable file raises :class:`OSError`.
    """
    p = FilePath(path)
    data = p.read_bytes()
    kind = p.suffix.lower().lstrip(".")
    source = f"answers file {p.name}"
    if kind not in ("toml", "json"):
        raise ResponseInvalid(
            [Problem(path="$", code="format", message="answers files end in .toml or .json")],
            source=source,
        )
    problem = ""
    raw: Any = None
    try:
        text = data.decode("utf-8")
        if kind == "toml":
            raw = tomllib.loads(text)
        else:
            raw = json.loads(text, parse_constant=_no_constant)
    except UnicodeDecodeError:
        problem = "the file is not UTF-8 text"
    except tomllib.TOMLDecodeError as e:
        problem = f"not valid TOML: {e}"
    except json.JSONDecodeError as e:
        problem = f"not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})"
    except ValueError:
        problem = "not valid JSON: NaN and Infinity are not numbers"
    if problem:
        raise ResponseInvalid([Problem(path="$", code="syntax", message=problem)], source=source)
    answers = _plain(raw)
    Validator(form).check(answers, stopped_early=stopped_early)
    assert isinstance(answers, dict)
    return answers


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def _plain(v: Any) -> Any:
    """TOML's dates and times as the strings a response holds (§4.1)."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, datetime.date | datetime.time):
        return v.isoformat()
    return v


# -- test entry point ----------------------------------------------------------------------------


def _utf8(stream: Any) -> None:
    if isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(encoding="utf-8", errors="replace")


def main(argv: Sequence[str] | None = None) -> int:
    """Ask a shipped form in this terminal; print the response as JSON at the end."""
    from schemas.forms import shipped_form

    p = argparse.ArgumentParser(
        prog="python -m collector.interview",
        description="Ask a shipped form in this terminal and print the response as JSON "
        "(a test entry point: nothing is saved; the field command is `collector interview`).",
    )
    p.add_argument("--form", default="escapee-interview", help="shipped form id")
    p.add_argument("--lang", help="language to start in (default: the form's)")
    p.add_argument("--answers", metavar="FILE", help="check a TOML/JSON response instead")
    args = p.parse_args(argv)
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        _utf8(stream)
    form = shipped_form(args.form)
    if args.answers:
        try:
            answers = answers_from_file(form, args.answers)
        except ResponseInvalid as e:
            print(f"{e}\nhint: fix every problem listed and try again", file=sys.stderr)
            return 1
        print(json.dumps(answers, ensure_ascii=False, sort_keys=True))
        return 0
    saves = 0

    def count(_answers: dict[str, Any]) -> None:
        nonlocal saves
        saves += 1

    iv = Interview(form, lang=args.lang or form.default_language)
    outcome = run_terminal(iv, stdin=sys.stdin, stdout=sys.stdout, on_change=count)
    result = {
        "outcome": outcome,
        "stopped_early": iv.stopped_early,
        "saves": saves,
        "tty": sys.stdin.isatty() and sys.stdout.isatty(),
        "answers": iv.answers,
    }
    print("RESULT " + json.dumps(result, ensure_ascii=False, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
