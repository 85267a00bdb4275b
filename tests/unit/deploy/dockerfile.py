"""A Dockerfile read as instructions, by stage: enough to check what the image promises.

Continuation lines are joined, comments dropped, ``ARG`` defaults substituted in ``FROM``.
This is not BuildKit's parser: it reads the Dockerfile of this repository, whose syntax is
plain.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    """One instruction: its keyword (upper case) and the rest of its line."""

    keyword: str
    value: str


@dataclass
class Stage:
    """One build stage: its base image (``ARG`` defaults applied) and its instructions."""

    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        """The values of every ``keyword`` instruction of this stage, in order."""
        return [i.value for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> str | None:
        """The value of the last ``keyword`` instruction (the one in force), or ``None``."""
        values = self.all(keyword)
        return values[-1] if values else None

    def env(self) -> dict[str, str]:
        """Every ``ENV`` of the stage (``KEY=value`` form), later ones winning."""
        found: dict[str, str] = {}
        for value in self.all("ENV"):
            for token in shlex.split(value):
                key, _, val = token.partition("=")
                found[key] = val
        return found


def instructions(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile's text.

    >>> instructions("# c\\nFROM a AS b\\nRUN x \\\\\\n    && y\\n")
    [Instruction(keyword='FROM', value='a AS b'), Instruction(keyword='RUN', value='x && y')]
    """
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        logical.append(pending + line)
        pending = ""
    if pending:
        logical.append(pending.rstrip())
    found = []
    for line in logical:
        keyword, _, value = line.partition(" ")
        found.append(Instruction(keyword.upper(), re.sub(r"\s+", " ", value).strip()))
    return found


def stages(path: Path) -> list[Stage]:
    """The build stages of the Dockerfile at ``path``, in order."""
    args: dict[str, str] = {}
    result: list[Stage] = []
    for instruction in instructions(path.read_text(encoding="utf-8")):
        if instruction.keyword == "ARG" and not result:
            arg, _, default = instruction.value.partition("=")
            args[arg] = default
        elif instruction.keyword == "FROM":
            words = instruction.value.split()
            base = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m[1], m[0]), words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            result.append(Stage(base, name))
        elif result:
            result[-1].instructions.append(instruction)
    return result


def exec_form(value: str) -> list[str] | None:
    """A JSON-array (exec form) argument list, or ``None`` for the shell form.

    >>> exec_form('["verdict"]'), exec_form("verdict serve")
    (['verdict'], None)
    """
    if not value.startswith("["):
        return None
    parsed = json.loads(value)
    assert isinstance(parsed, list) and all(isinstance(v, str) for v in parsed)
    return parsed
