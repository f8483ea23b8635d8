"""Real marks from public histories (tests/vectors/agent_marks.toml) are recognised with the
tool they came from, and real human look-alikes raise no signal, on commits git wrote."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gate.git.commits import parse_commit
from gate.git.detection import AgentDetector, is_agent
from gate.git.policy import AgentRules
from tests.support.marks import Marked, commit_tree, corpus

MARKS = corpus()


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("marks") / "r.git"
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    return path


@pytest.mark.parametrize("marked", MARKS, ids=lambda m: m.source)
def test_a_real_mark_is_recognised_and_a_person_is_not(repository: Path, marked: Marked) -> None:
    oid = commit_tree(repository, marked)
    raw = subprocess.run(
        ["git", "cat-file", "commit", oid], cwd=repository, capture_output=True, check=True
    ).stdout
    signals = AgentDetector(AgentRules(), None).signals(parse_commit(oid, raw))
    if marked.agent is None:
        assert signals == [], [s.describe() for s in signals]
    else:
        assert is_agent(signals)
        assert marked.agent in {s.agent for s in signals}, [s.describe() for s in signals]


def test_the_corpus_has_both_kinds() -> None:
    assert sum(m.agent is None for m in MARKS) >= 4
    assert len({m.agent for m in MARKS if m.agent}) >= 9
