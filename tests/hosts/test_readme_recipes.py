"""Every README block marked as tested is run by a test in tests/hosts: a recipe added to the
README without a test, or a test reading a block the README dropped, fails here."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.servers import README, readme_block


def test_every_tested_readme_block_is_used_by_a_test() -> None:
    names = re.findall(r"<!-- tested: ([\w-]+) -->", README.read_text(encoding="utf-8"))
    assert len(names) == len(set(names)), "two README blocks share a name"
    sources = "".join(
        path.read_text(encoding="utf-8")
        for path in [
            *Path(__file__).parent.glob("test_*.py"),
            Path(__file__).parents[1] / "support" / "servers.py",
        ]
        if path.name != Path(__file__).name
    )
    for name in names:
        readme_block(name)  # it is followed by a fenced block
        assert f'"{name}"' in sources, f"no test runs the README block {name!r}"
