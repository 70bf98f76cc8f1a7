"""The interactive questionnaire, driven through a real pseudo-terminal as a user would.

copier shows each question's help (or its name when it has none), pre-filled with the default.
Ctrl-U clears a pre-filled text answer; Enter accepts. A refused answer shows the validator's
message under the prompt and asks the same question again.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import copier_yml
import matrix
import pexpect
import pytest
import yaml
from rendering import BIN, ROOT

TIMEOUT = 60  # seconds per prompt: the first one waits for copier to clone the template
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")
CLEAR_LINE = "\x15"  # Ctrl-U: delete the pre-filled default
ENTER = "\r"


def screen(text: str) -> str:
    """What the user saw: the output without terminal control sequences."""
    return ANSI.sub("", text)


def prompt_text(name: str, context: dict[str, Any]) -> str:
    """The start of what copier prints for a question: its help (rendered), else its name."""
    help_text = copier_yml.questions()[name].get("help")
    if not help_text:
        return name
    if "{{" in help_text or "{%" in help_text:
        help_text = copier_yml.render(help_text, context)
    return " ".join(help_text.split())[:40]


class Session:
    def __init__(self, dst: Path) -> None:
        env = {
            **os.environ,
            "TERM": "xterm-256color",
            "COLUMNS": "120",
            "LINES": "40",
            "PROMPT_TOOLKIT_NO_CPR": "1",  # no cursor-position round trips through the pty
            "NO_COLOR": "1",
            "PYTHONWARNINGS": "ignore",
        }
        self.child = pexpect.spawn(
            str(BIN / "copier"),
            ["copy", "--vcs-ref", "HEAD", str(ROOT), str(dst)],
            cwd=str(dst.parent),
            env=env,
            encoding="utf-8",
            codec_errors="replace",
            dimensions=(40, 120),
            timeout=TIMEOUT,
        )
        self.transcript: list[str] = []

    def expect(self, pattern: str, what: str) -> str:
        """Wait for `pattern` (a literal); fail with what the terminal showed so far."""
        try:
            self.child.expect_exact(pattern)
        except (pexpect.TIMEOUT, pexpect.EOF) as error:
            shown = screen(self.child.before or "")
            pytest.fail(
                f"waiting for {what} ({pattern!r}): {type(error).__name__}\n"
                f"--- screen so far ---\n{screen(''.join(self.transcript))}{shown}"
            )
        seen = f"{self.child.before}{self.child.after}"
        self.transcript.append(seen)
        return screen(seen)

    def answer(self, pattern: str, what: str, keys: str) -> str:
        seen = self.expect(pattern, what)
        self.child.send(keys)
        return seen

    def finish(self) -> int:
        try:
            self.child.expect(pexpect.EOF)
        except pexpect.TIMEOUT:
            pytest.fail(f"copier did not finish:\n{screen(self.child.before or '')}")
        self.child.close()
        return int(self.child.exitstatus or 0) if self.child.signalstatus is None else -1


def test_interactive_copy_reasks_a_refused_answer(tmp_path: Path) -> None:
    dst = tmp_path / "svc"
    session = Session(dst)
    given = {"project_name": "Orders Service", "project_slug": "orders-api"}
    try:
        session.answer(
            prompt_text("project_name", {}),
            "the project_name prompt",
            CLEAR_LINE + given["project_name"] + ENTER,
        )
        slug_prompt = prompt_text("project_slug", given)
        session.answer(slug_prompt, "the project_slug prompt", CLEAR_LINE + "My Service!" + ENTER)

        refused = session.expect("is not a valid slug", "the slug validator's message")
        refused += session.expect("Allowed:", "what the slug validator allows")
        package_prompt = prompt_text("package_name", given)
        assert package_prompt not in refused, f"moved on after a refused slug:\n{refused}"
        session.child.send(CLEAR_LINE + given["project_slug"] + ENTER)

        asked, context = matrix.effective_row(given)
        remaining = list(asked)[list(asked).index("project_slug") + 1 :]
        for name in remaining:
            session.answer(prompt_text(name, context), f"the {name} prompt", ENTER)
        status = session.finish()
    finally:
        session.child.close(force=True)

    transcript = screen("".join(session.transcript))
    assert status == 0, f"copier exited {status}:\n{transcript}"
    recorded = yaml.safe_load((dst / ".copier-answers.yml").read_text())
    expected = {**asked, "package_name": "orders_api"}
    assert {name: recorded.get(name) for name in asked} == expected, transcript
    assert (dst / "src" / "orders_api" / "main.py").is_file()
