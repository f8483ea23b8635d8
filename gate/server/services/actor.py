"""Who acts, and how they proved it: made once at the edge (web request, API token, CLI
command) and passed to the services, which record it in the audit log as it is.

An actor's ``auth`` is never derived from the name: a web admin named ``system`` is still a
web session, and the CLI is ``cli`` whatever user it acts for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gate.server.models import HookToken, User

STEP_UP = "+step-up-password"
STEP_UP_WEBAUTHN = "+step-up-webauthn"


@dataclass(frozen=True)
class Actor:
    name: str
    auth: str  # session-password, session-sso-header, ...+step-up-password, hook-token, agent-read-token, cli, system

    @classmethod
    def web(cls, user: User, login_method: str) -> Actor:
        """A reviewer, admin or auditor in a logged-in browser session."""
        return cls(user.username, f"session-{login_method}")

    @classmethod
    def token(cls, token: HookToken) -> Actor:
        """An API token: ``hook-token:ID:NAME`` (a git host's) or ``agent-read-token:...``."""
        kind = token.kind or "hook"
        return cls(f"{kind}-token:{token.id}:{token.name}", f"{kind}-token")

    @classmethod
    def cli(cls, name: str = "system") -> Actor:
        """Someone with shell access to the server's configuration, acting for ``name``."""
        return cls(name, "cli")

    @classmethod
    def cli_password(cls, user: User) -> Actor:
        """A user named on the command line who gave their password there."""
        return cls(user.username, "cli-password")

    @property
    def stepped_up(self) -> Actor:
        """The same actor after re-entering their password for this one action."""
        return self if self.auth.endswith(STEP_UP) else Actor(self.name, self.auth + STEP_UP)

    @property
    def signed_with_key(self) -> Actor:
        """The same actor after their security key signed this one action (WebAuthn)."""
        if self.auth.endswith(STEP_UP_WEBAUTHN):
            return self
        return Actor(self.name, self.auth + STEP_UP_WEBAUTHN)


SYSTEM = Actor("system", "system")
