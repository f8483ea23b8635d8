"""Recognition on real history: which agent commits gate's classifier recognises, and which human
commits it takes for an agent's, against an independent labelling (bench/agent_labels.py).

    .venv/bin/python bench/recognition.py REPO [REPO ...] [--rev HEAD] [--show 5]

REPO is any git repository (bare or not) you fetched yourself; nothing is fetched or written.
For every commit reachable from ``--rev`` it runs gate's detector (the built-in catalog, no
pusher, as if every path were guarded) on the commit object exactly as stored, and the first
stage's literal prefilter on the same bytes (it must keep every commit the detector flags).
It prints, per repository and in total: agent commits per labelled tool and how many gate
recognises (recall), the human commits gate flags (false positives, with their evidence), the
commits whose labels name a person (``Assisted-by: Name <address>``) and whether gate passes
them, and prefilter misses. No timings: this measures recognition, not speed.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from agent_labels import label_history

from gate.git.catalog import load_catalog
from gate.git.commits import parse_commit
from gate.git.detection import AgentDetector, is_agent
from gate.git.literals import commit_rules
from gate.git.plumbing import Git
from gate.git.policy import AgentRules
from gate.git.prefilter import fold, may_match

BATCH = 2000


def prefilter_keeps(raw: bytes, rules: list) -> bool:  # type: ignore[type-arg]
    """The first stage's decision on one commit: records it cannot read as UTF-8 are kept."""
    if b"\nencoding " in raw.split(b"\n\n", 1)[0]:
        return True
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return may_match(fold(text), rules)


class Tally:
    def __init__(self) -> None:
        self.commits = 0
        self.labelled: Counter[str] = Counter()
        self.recognised: Counter[str] = Counter()
        self.agent_commits = 0
        self.agent_recognised = 0
        self.false_positives: list[tuple[str, str]] = []
        self.misses: dict[str, list[str]] = defaultdict(list)
        self.person_marks = 0
        self.person_marks_held: list[tuple[str, str]] = []
        self.prefilter_misses: list[str] = []
        self.named: dict[str, Counter[str]] = defaultdict(Counter)

    def add(self, other: Tally) -> None:
        self.commits += other.commits
        self.labelled += other.labelled
        self.recognised += other.recognised
        self.agent_commits += other.agent_commits
        self.agent_recognised += other.agent_recognised
        self.false_positives += other.false_positives
        for tool, ids in other.misses.items():
            self.misses[tool] += ids
        self.person_marks += other.person_marks
        self.person_marks_held += other.person_marks_held
        self.prefilter_misses += other.prefilter_misses
        for tool, names in other.named.items():
            self.named[tool] += names


def measure(repo: str, rev: str) -> Tally:
    catalog = load_catalog()
    detector = AgentDetector(AgentRules(), None, catalog)
    rules = commit_rules(catalog.evidence_sources)
    if rules is None:
        raise SystemExit("the catalog has a rule without a literal: the first stage is off")
    git = Git(str(Path(repo).resolve()), {"PATH": "/usr/bin:/bin"})
    tally = Tally()
    labels = list(label_history(repo, rev))
    for start in range(0, len(labels), BATCH):
        batch = labels[start : start + BATCH]
        raw = git.raw_commits(entry.id.encode("ascii") for entry in batch)
        for entry in batch:
            body = raw[entry.id.encode("ascii")]
            signals = detector.signals(parse_commit(entry.id, body))
            flagged = is_agent(signals)
            tally.commits += 1
            if flagged and not prefilter_keeps(body, rules):
                tally.prefilter_misses.append(entry.id)
            if entry.person_marks:
                tally.person_marks += 1
                if flagged and not entry.tools:
                    tally.person_marks_held.append((entry.id, entry.person_marks[0]))
            if entry.tools:
                tally.agent_commits += 1
                tally.agent_recognised += flagged
                for tool in entry.tools:
                    tally.labelled[tool] += 1
                    if flagged:
                        tally.recognised[tool] += 1
                        tally.named[tool].update({s.agent for s in signals})
                    else:
                        tally.misses[tool].append(entry.id)
            elif flagged:
                tally.false_positives.append((entry.id, signals[0].describe()))
    return tally


def report(title: str, tally: Tally, show: int) -> None:
    print(f"== {title}: {tally.commits} commits, {tally.agent_commits} labelled agent commits")
    for tool, count in sorted(tally.labelled.items(), key=lambda item: -item[1]):
        got = tally.recognised[tool]
        names = ", ".join(f"{n} {c}" for n, c in tally.named[tool].most_common(3))
        print(f"  {tool:28} {got:6} / {count:<6} {100 * got / count:6.2f}%   gate named: {names}")
        for oid in tally.misses.get(tool, [])[:show]:
            print(f"      missed {oid}")
    if tally.agent_commits:
        share = 100 * tally.agent_recognised / tally.agent_commits
        print(
            f"  recognised agent commits: {tally.agent_recognised} / {tally.agent_commits}"
            f" = {share:.2f}%"
        )
    print(f"  human commits taken for an agent's: {len(tally.false_positives)}")
    for oid, why in tally.false_positives[:show]:
        print(f"      {oid}: {why}")
    print(
        f"  commits whose marks name a person: {tally.person_marks},"
        f" held: {len(tally.person_marks_held)}"
    )
    for oid, mark in tally.person_marks_held[:show]:
        print(f"      {oid}: {mark}")
    print(
        f"  flagged commits the first stage's prefilter would drop: {len(tally.prefilter_misses)}"
    )
    for oid in tally.prefilter_misses[:show]:
        print(f"      {oid}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repos", nargs="+", help="paths of git repositories (bare or not)")
    parser.add_argument("--rev", default="HEAD", help="the history to walk (default HEAD)")
    parser.add_argument("--show", type=int, default=5, help="example ids per line (default 5)")
    args = parser.parse_args()
    total = Tally()
    for repo in args.repos:
        tally = measure(repo, args.rev)
        report(repo, tally, args.show)
        total.add(tally)
    if len(args.repos) > 1:
        report("all repositories", total, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
