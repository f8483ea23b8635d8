"""The hook's settings, parsed once: gate.toml, the policy and the built-in agent catalog.

On a push that holds nothing, parsing TOML (tomllib), checking the policy, validating the
catalog and translating guard patterns (pathspec) cost more than everything else the hook does.
The results are stored with ``marshal`` in ``GIT_DIR/gate-cache``, keyed by the exact bytes of
each source file and by the gate and Python versions, so an edited policy or an upgraded gate
is seen on the next push. A missing, stale or unreadable cache means the slow path (the same
functions as always, with their error messages), which rewrites it; a cache that cannot be
written is not an error. The cache holds only what the files say: anyone able to write it can
already replace the hook itself.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import gate
from gate.errors import GateError
from gate.git.catalog import (
    BUILTIN_SOURCE,
    Catalog,
    CatalogEntry,
    builtin_catalog_bytes,
    builtin_catalog_path,
)
from gate.git.config import CONFIG_NAME, HookConfig, load_hook_config
from gate.git.fastpath import read_bytes, read_keyed, write_keyed
from gate.git.policy import Policy, build_policy, load_policy, parse_policy

CACHE_NAME = "gate-cache"
_KEY = ("gate-hook-cache", 1, gate.__version__, sys.version, __file__)


class HookState:
    """What the hook needs before it looks at any commit."""

    __slots__ = ("_catalog", "_catalog_error", "catalog_entries", "config", "policy")

    def __init__(
        self,
        config: HookConfig,
        policy: Policy,
        catalog_entries: list[CatalogEntry] | None,
        catalog_error: GateError | None = None,
    ) -> None:
        self.config = config
        self.policy = policy
        self.catalog_entries = catalog_entries
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
            self._catalog = Catalog(self.catalog_entries, BUILTIN_SOURCE)
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


def load_state(git_dir: str) -> HookState:
    """The hook's config, policy and catalog: from the cache when every source is unchanged.

    Raises GateError (PolicyError for the policy) exactly as the uncached loaders do.
    """
    cache_path = os.path.join(git_dir, CACHE_NAME)
    config_bytes = read_bytes(os.path.join(git_dir, CONFIG_NAME))
    cached = _load_cache(cache_path)
    if cached is not None and config_bytes is not None:
        state = _from_cache(cached, config_bytes)
        if state is not None:
            _ensure_summary(
                git_dir, state, config_bytes, cached["policy_bytes"], cached["catalog_bytes"]
            )
            return state
    enable_site_packages()  # pathspec translates the guard patterns
    config = load_hook_config(git_dir)
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
        _store(cache_path, config_bytes, config, policy_bytes, policy, catalog_bytes, entries)
        _ensure_summary(git_dir, state, config_bytes, policy_bytes, catalog_bytes)
    return state


def _ensure_summary(
    git_dir: str,
    state: HookState,
    config_bytes: bytes,
    policy_bytes: bytes,
    catalog_bytes: bytes | None,
) -> None:
    """Write the fast path's summary (gate.git.fastpath) when it is missing or stale."""
    from gate.git.fastpath import load_summary

    if load_summary(git_dir) is not None:
        return
    from gate.git.summary import build_summary, store_summary

    try:
        catalog = state.catalog()
        sources = [
            (os.path.join(git_dir, CONFIG_NAME), config_bytes),
            (state.config.policy, policy_bytes),
        ]
        if catalog is not None and catalog_bytes is not None:
            sources.append((builtin_catalog_path(), catalog_bytes))
        elif catalog is not None:
            return
        store_summary(git_dir, build_summary(sources, state.policy, catalog))
    except Exception:  # an optimisation only: without a summary every push takes the full path
        return


def _load_cache(path: str) -> dict[str, Any] | None:
    return read_keyed(path, _KEY)


def _from_cache(cached: dict[str, Any], config_bytes: bytes) -> HookState | None:
    try:
        if cached["config_bytes"] != config_bytes:
            return None
        config = HookConfig(**cached["config"])
        if read_bytes(config.policy) != cached["policy_bytes"]:
            return None
        policy = build_policy(cached["policy"], cached["policy_sha256"], config.policy)
        for guard, rules in zip(policy.guards, cached["guard_rules"], strict=True):
            guard.use_rules(rules)
        entries = None
        if policy.agents.builtin:
            if builtin_catalog_bytes() != cached["catalog_bytes"]:
                return None
            entries = [CatalogEntry(**entry) for entry in cached["catalog"]]
        return HookState(config, policy, entries)
    except Exception:  # a damaged cache is a cache miss, whatever it holds
        return None


def _store(
    path: str,
    config_bytes: bytes,
    config: HookConfig,
    policy_bytes: bytes,
    policy: Policy,
    catalog_bytes: bytes | None,
    entries: list[CatalogEntry] | None,
) -> None:
    from dataclasses import asdict

    from gate.git.policy import PolicyError

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
        "key": _KEY,
        "config_bytes": config_bytes,
        "config": asdict(config),
        "policy_bytes": policy_bytes,
        "policy": policy_doc,
        "policy_sha256": policy.sha256,
        "guard_rules": guard_rules,
        "catalog_bytes": catalog_bytes,
        "catalog": [asdict(entry) for entry in entries] if entries is not None else None,
    }
    write_keyed(path, cached)
