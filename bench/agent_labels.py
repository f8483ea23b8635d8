"""An independent labelling of commits by the marks coding agents leave, for bench/recognition.py.

Deliberately shares nothing with gate: no catalog, no trailer parser, no commit reader. It asks
git for each commit's raw identities and whole message (``git log --no-use-mailmap``, ``%an``
``%ae`` ``%cn`` ``%ce`` ``%B``) and greps them line by line for the marks each tool is known to
leave (gate/data/agents.toml cites the sources; issue 16 lists the misses), wherever in the
message they sit. A label is a tool name; a commit may carry several. Marks that can name a
person (``Assisted-by``) count only when what they name is a tool or a model, and those that do
name a person are returned apart, as human look-alikes the classifier must not hold.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field

# (tool, regex searched in "name <email>" of author, committer and every *-by line's value)
ADDRESSES: list[tuple[str, str]] = [
    ("Claude Code", r"<noreply@anthropic\.com>"),
    ("Claude Code", r"\bclaude\[bot\]@"),
    ("Aider", r"<(?:aider@aider\.chat|noreply@aider\.dev|noreply@aider\.chat)>"),
    ("Aider", r"^[^<]* \(aider\) <"),
    ("OpenHands", r"<(?:openhands@all-hands\.dev|openhands@openhands\.dev)>"),
    ("OpenHands", r"<(?:opendevin@all-hands\.dev|opendevin@opendevin\.ai|bot@opendevin\.com)>"),
    ("Crush", r"<(?:crush@charm\.land|noreply@crush\.charm\.land|noreply@crush\.ai)>?"),
    ("termai", r"<noreply@termai\.io>"),
    ("opencode", r"<noreply@opencode\.ai>"),
    ("GitHub Copilot", r"\+Copilot@users\.noreply\.github\.com>|<copilot@github\.com>"),
    ("GitHub Copilot", r"copilot-swe-agent\[bot\]|github-advanced-security\[bot\]"),
    ("GitHub workflow", r"github-actions\[bot\]|<(?:actions|github-actions)@github\.com>"),
    ("dependabot", r"dependabot(?:-preview)?\[bot\]"),
    ("renovate", r"renovate\[bot\]"),
    ("OpenAI Codex", r"<(?:noreply|codex)@openai\.com>|codex[a-z-]*\[bot\]"),
    ("Cursor", r"<cursoragent@cursor\.com>"),
    ("Devin", r"devin-ai-integration\[bot\]"),
    ("Sourcegraph Amp", r"<amp@ampcode\.com>"),
    ("other [bot]", r"\[bot\][^<]*<|[A-Za-z0-9-]\[bot\]@users\.noreply\."),
]
# (tool, regex searched in the whole message, multi-line)
MESSAGE: list[tuple[str, str]] = [
    ("Claude Code", r"^.{0,3}Generated with \[Claude Code\]"),
    ("Claude Code", r"^Claude-(?:Session|Generated-By|Steers|Plan|Escapes|Permission-Prompts):"),
    ("Aider", r"^# (?:Aider chat conversation:$|Context:\nUSER: )"),
    ("Crush", r"^.{0,3}Generated with Crush\b"),
    ("termai", r"^.{0,3}Generated with termai\b"),
    ("opencode", r"^.{0,3}Generated with \[?opencode\b"),
    ("Cursor", r"^Made-with: Cursor\s*$"),
    ("GitHub Copilot", r"^Agent-Logs-Url: "),
]
_PERSON_BY = re.compile(r"^([A-Za-z-]+-by):[ \t]*(.*?)\s*$", re.MULTILINE | re.IGNORECASE)
_ADDRESS = re.compile(r"<[^<>]*@[^<>]*>?")
# What an Assisted-by value names when it names a tool or a model (any one word suffices).
_TOOL_WORDS = re.compile(
    r"\b(?:claude[ -](?:opus|sonnet|haiku|code|\d)|claude[ -][a-z]+[ -]\d|opus|sonnet|haiku|gpt|chatgpt|codex|copilot|"
    r"gemini|llm|chatbot|deepseek|qwen\d*|glm|grok|llama|mistral|kimi[ -]k\d|crush|aider|"
    r"opencode|openhands|cursor|coding agents?|ai[ -](?:assistants?|agents?|models?|tools?))\b",
    re.IGNORECASE,
)
_KERNEL_FORM = re.compile(r"^[^\s:<>]+:(?!//)\S")  # AGENT_NAME:MODEL_VERSION [TOOLS]


@dataclass
class Labelled:
    id: str
    tools: set[str] = field(default_factory=set)
    person_marks: list[str] = field(default_factory=list)  # *-by lines that name a person


def _tools_at(identity: str) -> set[str]:
    return {tool for tool, pattern in ADDRESSES if re.search(pattern, identity, re.IGNORECASE)}


def label(author: str, committer: str, message: str) -> Labelled:
    """The tools whose marks a commit carries (author and committer as "Name <email>")."""
    found = Labelled("")
    people = [author, committer]
    for key, value in _PERSON_BY.findall(message):
        if key.lower() == "co-authored-by":
            people.append(value)
        elif key.lower() == "assisted-by":
            if _ADDRESS.search(value):  # judged by its address, like any co-author
                people.append(value)
                if not _tools_at(value):
                    found.person_marks.append(f"{key}: {value}")
            elif _KERNEL_FORM.match(value) or _TOOL_WORDS.search(value):
                found.tools.add("Assisted-by (tool or model)")
            else:
                found.person_marks.append(f"{key}: {value}")
    for text in people:
        found.tools.update(_tools_at(text))
    for tool, pattern in MESSAGE:
        if re.search(pattern, message, re.IGNORECASE | re.MULTILINE):
            found.tools.add(tool)
    return found


def label_history(repo: str, rev: str = "HEAD") -> Iterator[Labelled]:
    """Every commit reachable from ``rev``, labelled, newest first."""
    fmt = "%H%x00%an <%ae>%x00%cn <%ce>%x00%B%x00"
    proc = subprocess.Popen(
        ["git", "-C", repo, "log", "--no-use-mailmap", "--encoding=UTF-8", f"--format={fmt}", rev],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    data = proc.stdout.read().decode("utf-8", "replace")
    if proc.wait() != 0:
        raise SystemExit(f"git log failed in {repo}")
    fields = data.split("\0")
    for at in range(0, len(fields) - 3, 4):
        oid, author, committer, message = fields[at : at + 4]
        labelled = label(author, committer, message)
        labelled.id = oid.strip()
        yield labelled
