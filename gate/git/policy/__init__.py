"""The policy file: which refs are protected, which paths are guarded, who counts as an agent.

The file is TOML; docs/policy.md is the reference. ``parse_policy`` checks the whole file and
raises one ``PolicyError`` listing every problem with its line number, so an admin fixes them
all in one go. Nothing else can escape it, whatever the bytes.

By concern: ``model`` (the objects), ``refs`` (the ref-pattern language), ``paths``
(gitignore patterns: validation and linear-time matching), ``toml_lines`` (line numbers),
``check`` (reading and checking a file), ``limits`` (the bounds the server shares).
``tomllib``, ``hashlib`` and ``pathspec`` are imported only when they are needed.
"""

from gate.git.policy.check import (
    build_policy,
    check_agent_glob,
    load_policy,
    parse_policy,
    policy_summary,
)
from gate.git.policy.errors import PolicyError, Problem
from gate.git.policy.model import AgentRules, Guard, Policy
from gate.git.policy.paths import (
    GuardMatcher,
    GuardRules,
    check_path_pattern,
    compile_path_patterns,
    guard_rules,
)
from gate.git.policy.refs import check_ref_pattern
from gate.git.policy.toml_lines import SourceMap

__all__ = [
    "AgentRules",
    "Guard",
    "GuardMatcher",
    "GuardRules",
    "Policy",
    "PolicyError",
    "Problem",
    "SourceMap",
    "build_policy",
    "check_agent_glob",
    "check_path_pattern",
    "check_ref_pattern",
    "compile_path_patterns",
    "guard_rules",
    "load_policy",
    "parse_policy",
    "policy_summary",
]
