"""The hook's own settings, written by ``gate install-hook`` into the repository as gate.toml."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gate.errors import GateError

if TYPE_CHECKING:
    from pathlib import Path

CONFIG_NAME = "gate.toml"


@dataclass(frozen=True)
class HookConfig:
    server: str
    token_file: str
    policy: str
    repository: str
    timeout: float = 10.0

    def token(self) -> str:
        from pathlib import Path

        try:
            token = Path(self.token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise GateError(
                f"gate: cannot read the hook token file {self.token_file}: {exc.strerror}"
            ) from None
        if not token:
            raise GateError(f"gate: the hook token file {self.token_file} is empty")
        return token.splitlines()[-1].strip()

    def to_toml(self) -> str:
        def q(value: str) -> str:
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

        return (
            "# Written by `gate install-hook`; rerun it to change these.\n"
            f"server = {q(self.server)}\n"
            f"token_file = {q(self.token_file)}\n"
            f"policy = {q(self.policy)}\n"
            f"repository = {q(self.repository)}\n"
            f"timeout = {self.timeout}\n"
        )


def load_hook_config(git_dir: str | Path) -> HookConfig:
    import tomllib  # here, not at the top: the hook's cache (gate.git.settings) usually spares it

    path = os.path.join(git_dir, CONFIG_NAME)
    try:
        with open(path, encoding="utf-8") as file:
            data = tomllib.loads(file.read())
    except FileNotFoundError:
        raise GateError(
            f"gate: {path} is missing; reinstall the hook with `gate install-hook`"
        ) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise GateError(f"gate: cannot read {path}: {exc}") from None
    try:
        return HookConfig(
            server=str(data["server"]).rstrip("/"),
            token_file=str(data["token_file"]),
            policy=str(data["policy"]),
            repository=str(data["repository"]),
            timeout=float(data.get("timeout", 10.0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise GateError(
            f"gate: {path} is incomplete ({exc}); reinstall with `gate install-hook`"
        ) from None
