"""The policy file: which refs are protected, which paths are guarded, who counts as an agent.

The file is TOML; docs/policy.md is the reference. ``parse_policy`` checks the whole file and
raises one ``PolicyError`` listing every problem with its line number, so an admin fixes them
all in one go. Nothing else can escape it, whatever the bytes.

By concern: ``model`` (the objects, and building them from a checked document), ``refs`` (the
ref-pattern language), ``paths`` (gitignore patterns: validation and linear-time matching),
``toml_lines`` (line numbers), ``check`` (reading and checking a file), ``limits`` (the bounds
the server shares). Each name below is imported from its module on first use: the hook's exact
stage, starting from compiled settings, needs the model and the matcher but never the checker
(which brings gate.wire, ``json``, ``datetime``...). ``tomllib``, ``hashlib`` and ``pathspec``
are imported only when they are needed.
"""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from gate.git.policy.check import (
        check_agent_glob,
        load_policy,
        parse_policy,
        policy_summary,
    )
    from gate.git.policy.errors import PolicyError, Problem
    from gate.git.policy.model import AgentRules, Guard, Policy, build_policy
    from gate.git.policy.paths import (
        GuardMatcher,
        GuardRules,
        check_path_pattern,
        compile_path_patterns,
        guard_rules,
    )
    from gate.git.policy.refs import check_ref_pattern
    from gate.git.policy.toml_lines import SourceMap

# name -> the module of this package that defines it
_MODULES = {
    "AgentRules": "model",
    "Guard": "model",
    "GuardMatcher": "paths",
    "GuardRules": "paths",
    "Policy": "model",
    "PolicyError": "errors",
    "Problem": "errors",
    "SourceMap": "toml_lines",
    "build_policy": "model",
    "check_agent_glob": "check",
    "check_path_pattern": "paths",
    "check_ref_pattern": "refs",
    "compile_path_patterns": "paths",
    "guard_rules": "paths",
    "load_policy": "check",
    "parse_policy": "check",
    "policy_summary": "check",
}

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


def __getattr__(name: str) -> object:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(__import__(f"{__name__}.{module}", fromlist=[name]), name)
    globals()[name] = value
    return value
