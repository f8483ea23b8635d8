"""[agents.owners]: who operates an agent account, validated strictly like the rest."""

from __future__ import annotations

import pytest

from gate.git.policy import PolicyError, parse_policy, policy_summary

BASE = """\
protected_refs = ["refs/heads/main"]

[[guard]]
name = "training"
paths = ["train/**"]

[agents]
pushers = ["agent-*"]
"""


def test_owners_are_read_and_looked_up_case_insensitively() -> None:
    policy = parse_policy((BASE + '\n[agents.owners]\nagent-ci = "dana@example.com"\n').encode())
    assert policy.agents.owner_of("Agent-CI") == "dana@example.com"
    assert policy.agents.owner_of("agent-other") is None
    assert policy.agents.owner_of(None) is None
    assert policy.agents.to_dict()["owners"] == {"agent-ci": "dana@example.com"}
    assert "owner of agent-ci: dana@example.com" in policy_summary(policy)


def test_no_owners_is_the_default() -> None:
    assert parse_policy(BASE.encode()).agents.owners == ()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('owners = "dana@example.com"', "'owners' must be a table"),
        ('[agents.owners]\nagent-ci = "dana"', "is not an email address: 'dana'"),
        ("[agents.owners]\nagent-ci = 3", "must be an email string, not an integer"),
        ('[agents.owners]\n"" = "dana@example.com"', "is empty"),
    ],
)
def test_bad_owners_are_reported_with_line(table: str, message: str) -> None:
    text = BASE.replace('pushers = ["agent-*"]\n', 'pushers = ["agent-*"]\n' + table + "\n")
    with pytest.raises(PolicyError) as caught:
        parse_policy(text.encode(), "policy.toml")
    assert any(
        message in line and line.startswith("policy.toml:") for line in caught.value.lines
    ), caught.value.lines
