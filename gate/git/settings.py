"""The hook's settings, compiled once: gate.toml, the policy and the built-in agent catalog.

On a push that holds nothing, parsing TOML (tomllib), checking the policy, validating the
catalog and translating guard patterns (pathspec) cost more than everything else the hook does.
The results are stored with ``marshal`` in one file, ``GIT_DIR/gate-cache``
(gate.git.prefilter reads it), under one key: the gate and Python versions and a stamp of every
module file under gate/git, plus the exact bytes of each source file, so an edited policy, an
upgraded or edited gate is seen on the next push. It holds two parts: what the classifier's
first stage needs (protected refs, the guards' pathspec, the literal prefilters of
gate.git.literals, or None when a pattern has no usable literal), and the parsed settings
themselves, loaded only when a push reaches the exact stage. A missing, stale or unreadable
file means the slow path (the same functions as always, with their error messages), which
rewrites it; a file that cannot be written is not an error. It holds only what the files say:
anyone able to write it can already replace the hook itself.
"""

from __future__ import annotations

import marshal
import sys

from gate.errors import GateError
from gate.git.catalog import (
    BUILTIN_SOURCE,
    Catalog,
    CatalogEntry,
    builtin_catalog_bytes,
    builtin_catalog_path,
)
from gate.git.config import CONFIG_NAME, HookConfig, load_hook_config
from gate.git.policy.model import Policy, build_policy
from gate.git.prefilter import (
    ARTIFACT_NAME,
    LAYOUT_PUSHER_VARIABLES,
    config_origin,
    guard_pathspec,
    load_artifact,
    read_bytes,
    write_artifact,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from gate.git.literals import Rule

CACHE_NAME = ARTIFACT_NAME


class HookState:
    """What the hook needs before it looks at any commit."""

    __slots__ = ("_catalog", "_catalog_error", "catalog_entries", "config", "literals", "policy")

    def __init__(
        self,
        config: HookConfig,
        policy: Policy,
        catalog_entries: list[CatalogEntry] | None,
        catalog_error: GateError | None = None,
        literals: dict[str, Rule] | None = None,
    ) -> None:
        """``literals``: the required literals of the catalog's and the policy's agent
        patterns (``pattern_literals``), from the compiled settings: with them, the catalog
        and the detector compile a pattern only for a text that may match it."""
        self.config = config
        self.policy = policy
        self.catalog_entries = catalog_entries
        self.literals = literals
        self._catalog: Catalog | None = None
        self._catalog_error = catalog_error

    def catalog(self) -> Catalog | None:
        """The compiled built-in catalog, or None when the policy turns it off.

        A broken catalog is reported here, when a commit is to be checked, as it always was.
        """
        if self._catalog_error is not None:
            raise self._catalog_error
        if self.catalog_entries is None:
            return None
        if self._catalog is None:
            self._catalog = Catalog(self.catalog_entries, BUILTIN_SOURCE, self.literals)
        return self._catalog


def enable_site_packages() -> None:
    """Make installed packages importable when Python was started without them.

    The installed hook runs ``python -I -S`` (no site module: about 7 ms less per push) with
    gate's own directory on sys.path; pathspec, pygit2 and requests live in site-packages, so
    the paths that need them call this first. A no-op when site was imported at startup.
    """
    if sys.flags.no_site and "site" not in sys.modules:
        import site

        site.main()


def hook_settings(config: HookConfig) -> dict[str, Any]:
    """What the hook needs of its config before it reads any commit (stored in the compiled
    settings as plain values, so the first stage reads them without unmarshalling more)."""
    return {
        "budget": config.budget,
        "layout": config.layout,
        "pusher_variables": LAYOUT_PUSHER_VARIABLES[config.layout],
        "require_pusher": config.require_pusher,
        "unknown_pusher": config.unknown_pusher,
        "guarded": config.guarded,
    }


def load_state(
    git_dir: str,
    artifact: dict[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    central: str | None = None,
) -> HookState:
    """The hook's config, policy and catalog: compiled when every source is unchanged.

    Raises GateError (PolicyError for the policy) exactly as the uncompiled loaders do.
    ``artifact``: the compiled settings the caller already loaded (gate.git.prefilter).
    ``central``: the central file of a server-wide install (the repository's entry is found
    from the host's variables in ``environ``), else the repository's gate.toml is read.
    """
    environ = environ or {}
    origin = config_origin(environ, central)
    if artifact is None:
        artifact = load_artifact(git_dir, origin)
    if artifact is not None:
        state = _from_artifact(artifact)
        if state is not None:
            return state
    import os  # compiling: not on a warm cache

    config_path = central if central is not None else os.path.join(git_dir, CONFIG_NAME)
    config_bytes = read_bytes(config_path)
    config = load_hook_config(git_dir, environ, central)
    if not config.guarded:
        if config_bytes is not None:
            write_artifact(
                git_dir,
                {
                    "sources": [(config_path, config_bytes)],
                    "origin": origin,
                    "protected_refs": [],
                    "hook": hook_settings(config),
                },
            )
        return HookState(config, _unguarded_policy(config), None)
    from gate.git.policy import load_policy, parse_policy  # the checker: not on a warm cache

    enable_site_packages()  # pathspec translates the guard patterns
    policy_bytes = read_bytes(config.policy)
    if policy_bytes is None:
        policy = load_policy(config.policy)  # raises the error that says why it cannot be read
    else:
        policy = parse_policy(policy_bytes, config.policy)
    entries = None
    catalog_bytes = None
    if policy.agents.builtin:
        from gate.git.catalog import parse_catalog_entries

        try:
            catalog_bytes = builtin_catalog_bytes()
            entries = parse_catalog_entries(catalog_bytes, BUILTIN_SOURCE)
        except GateError as exc:
            return HookState(config, policy, None, exc)
    state = HookState(config, policy, entries)
    if config_bytes is not None and policy_bytes is not None:
        sources = [(config_path, config_bytes), (config.policy, policy_bytes)]
        if catalog_bytes is not None:
            sources.append((builtin_catalog_path(), catalog_bytes))
        _store(git_dir, sources, state, origin)
    return state


def _unguarded_policy(config: HookConfig) -> Policy:
    """A central file's unlisted repository, passed on purpose: nothing is protected."""
    from gate.git.policy.model import AgentRules

    return Policy((), (), AgentRules(builtin=False), "", f"(unlisted in {config.repository})")


def _from_artifact(artifact: dict[str, Any]) -> HookState | None:
    try:
        cached = marshal.loads(artifact["state"])
        config = HookConfig(**cached["config"])
        policy = build_policy(cached["policy"], cached["policy_sha256"], config.policy)
        for guard, rules in zip(policy.guards, cached["guard_rules"], strict=True):
            guard.use_rules(rules)
        entries = None
        if policy.agents.builtin:
            entries = [CatalogEntry(**entry) for entry in cached["catalog"]]
        return HookState(config, policy, entries, literals=cached["literals"])
    except Exception:  # a damaged file is a miss, whatever it holds
        return None


def _store(
    git_dir: str, sources: list[tuple[str, bytes]], state: HookState, origin: tuple | None
) -> None:
    from gate.git.policy.errors import PolicyError

    policy, entries = state.policy, state.catalog_entries
    try:
        guard_rules = [guard.rules for guard in policy.guards]
    except PolicyError:
        return  # pathspec refused a pattern; the hook reports it when it matches paths
    doc = policy.to_dict()
    policy_doc = {
        "protected_refs": doc["protected_refs"],
        "guard": [guard.to_dict() for guard in policy.guards],
        "agents": doc["agents"],
    }
    cached = {
        "config": state.config.as_dict(),
        "policy": policy_doc,
        "policy_sha256": policy.sha256,
        "guard_rules": guard_rules,
        "catalog": [entry.as_dict() for entry in entries] if entries is not None else None,
        "literals": pattern_literals(state),
    }
    write_artifact(
        git_dir,
        {
            "sources": sources,
            "origin": origin,
            "hook": hook_settings(state.config),
            "protected_refs": list(policy.protected_refs),
            "pathspec": guard_pathspec(p for guard in policy.guards for p in guard.paths),
            "rules": prefilter_rules(state),
            "state": marshal.dumps(cached),
        },
    )


def prefilter_rules(state: HookState) -> dict[str, Any] | None:
    """The first stage's literal prefilters; None when agent evidence has no usable literal
    (or anything else goes wrong: the prefilter is an optimisation, the exact stage decides)."""
    import fnmatch

    from gate.git.literals import commit_rules, group_rules, path_rules
    from gate.git.policy.paths import folded_patterns, stand_in_tops
    from gate.git.prefilter import star_globs

    try:
        rules = state.policy.agents
        catalog = state.catalog()
        agent_sources = [
            fnmatch.translate(p) for p in (*rules.emails, *rules.names, *rules.trailers)
        ]
        if catalog is not None:
            agent_sources += catalog.evidence_sources
        # A signed commit may be signed by an agent's registered key (gate.git.signing).
        agent_sources.append("gpgsig")
        agent_rules = commit_rules(agent_sources)
        pusher_rules = commit_rules(fnmatch.translate(p) for p in rules.pushers)
        if agent_rules is None or pusher_rules is None:
            return None
        try:
            include_rules = [
                source
                for guard in state.policy.guards
                for source, include in (*guard.rules, *guard.folded_rules)
                if include
            ]
            guard_rules = path_rules(include_rules)
        except GateError:  # pathspec refused a pattern: the exact stage reports it
            guard_rules = None
        patterns = [p for guard in state.policy.guards for p in guard.paths]
        return {
            # signed-humans guards weigh every commit that touches them, marks or not
            "every_commit": state.policy.signed_humans,
            "pusher_rules": pusher_rules,
            # the exact pusher match without re, when every glob allows it
            "pusher_globs": star_globs(rules.pushers),
            "agent_rules": group_rules(agent_rules),
            "guard_rules": guard_rules,
            "stand_in_tops": stand_in_tops([*patterns, *folded_patterns(patterns)]),
        }
    except Exception:
        return None


def pattern_literals(state: HookState) -> dict[str, Rule] | None:
    """The required literals (gate.git.literals) of every agent pattern the exact stage may
    compile, by pattern key (gate.git.catalog.pattern_key): the catalog's and the policy's
    globs. Those without a usable literal are left out (they are always tried). None when
    anything goes wrong, such as patterns that cannot be combined: then the catalog and the
    detector compile everything up front, as without compiled settings, and report it there."""
    from gate.git.detection import AgentDetector
    from gate.git.literals import commit_rules

    try:
        # compiled whole here (the catalog and the policy's globs): their patterns combine
        detector = AgentDetector(state.policy.agents, None, state.catalog())
        found = {}
        for key, source in detector.keyed_sources():
            rule = commit_rules([source])
            if rule is not None:
                found[key] = rule[0]
        return found
    except Exception:
        return None
