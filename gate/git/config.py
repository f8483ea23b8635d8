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
    layout: str | None = None  # the host layout gate was installed for; None: tell by the host

    def token(self) -> str:
        return read_token_file(self.token_file)

    def to_toml(self) -> str:
        def q(value: str) -> str:
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

        return (
            "# Written by `gate install-hook`; rerun it to change these.\n"
            f"server = {q(self.server)}\n"
            f"token_file = {q(self.token_file)}\n"
            f"policy = {q(self.policy)}\n"
            f"repository = {q(self.repository)}\n"
            f"timeout = {self.timeout}\n" + (f"layout = {q(self.layout)}\n" if self.layout else "")
        )


def read_token_file(path: str | Path) -> str:
    """The hook token in a token file: its last line that is neither blank nor a ``#`` comment
    (so an admin can note above it what the token is for). The one reader, for the hook and
    for ``gate wait``."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as exc:
        raise GateError(f"cannot read the token file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise GateError(f"the token file {path} is not UTF-8 text") from None
    lines = [line.strip() for line in text.splitlines()]
    tokens = [line for line in lines if line and not line.startswith("#")]
    if not tokens:
        raise GateError(f"the token file {path} holds no token (only blank or # comment lines)")
    token = tokens[-1]
    if not token.isascii() or any(ch.isspace() or not ch.isprintable() for ch in token):
        raise GateError(
            f"the last line of the token file {path} is not a token (one word, ASCII only)"
        )
    return token


def load_hook_config(git_dir: str | Path) -> HookConfig:
    import tomllib  # here, not at the top: the hook's cache (gate.git.settings) usually spares it

    path = os.path.join(git_dir, CONFIG_NAME)
    try:
        with open(path, encoding="utf-8") as file:
            data = tomllib.loads(file.read())
    except FileNotFoundError:
        raise GateError(f"{path} is missing; reinstall the hook with `gate install-hook`") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise GateError(f"cannot read {path}: {exc}") from None
    try:
        return HookConfig(
            server=str(data["server"]).rstrip("/"),
            token_file=str(data["token_file"]),
            policy=str(data["policy"]),
            repository=str(data["repository"]),
            timeout=float(data.get("timeout", 10.0)),
            layout=str(data["layout"]) if "layout" in data else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise GateError(
            f"{path} is incomplete ({exc}); reinstall with `gate install-hook`"
        ) from None
