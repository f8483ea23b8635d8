"""Protected-ref patterns: '*' within one component, '**' across components, the rest literal."""

from __future__ import annotations

_REF_FORBIDDEN = set(" ~^:?[\\\x7f") | {chr(code) for code in range(32)}


def check_ref_pattern(pattern: str) -> str | None:
    """Why ``pattern`` is not a usable protected-ref pattern, or None if it is."""
    if not pattern.startswith("refs/"):
        return f"must start with 'refs/' (did you mean {_suggest_ref(pattern)!r}?)"
    bad = sorted({char for char in pattern if char in _REF_FORBIDDEN})
    if bad:
        shown = " ".join(repr(char) for char in bad)
        return f"contains {shown}, not allowed in a ref name (only '*' and '**' are wildcards)"
    for part in pattern.split("/"):
        if not part:
            return "has an empty path component ('//' or a trailing '/')"
        if "**" in part and part != "**":
            return (
                "has '**' inside a component; '**' must be a whole component, as in 'refs/tags/**'"
            )
        if part.startswith(".") or part.endswith(".lock"):
            return f"has component {part!r}; ref components cannot start with '.' or end in '.lock'"
    if ".." in pattern or "@{" in pattern or pattern.endswith("."):
        return "is not a valid ref name ('..', '@{' and a trailing '.' are not allowed)"
    return None


def _suggest_ref(pattern: str) -> str:
    stripped = pattern.strip().lstrip("/")
    if stripped.startswith(("heads/", "tags/")):
        return f"refs/{stripped}"
    return f"refs/heads/{stripped or 'main'}"
