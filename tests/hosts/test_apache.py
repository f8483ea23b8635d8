"""gate behind Apache's mod_cgid and git http-backend with Basic auth, set up as the README says.

Apache runs as root on 127.0.0.1 with only the README's configuration (paths replaced) and runs
git http-backend as www-data, which owns the repository and the hook token.
"""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gitrepo import CLAUDE_TRAILER, HUMAN, WorkClone
from tests.support.server import LiveServer
from tests.support.servers import (
    Daemon,
    held_then_approved,
    install_gate_as_readme_says,
    need,
    pusher_of_request,
    pushes_without_pusher,
    readme_block,
    request_id_from,
    run_as,
    served_ref,
    start_apache,
)

pytestmark = pytest.mark.e2e

PASSWORDS = {"alice": "alice-secret", "agent-trainer": "trainer-secret"}
# Beside the README's authenticated location: the same backend with no authentication, to show
# what leaving http.receivepack unset protects against.
OPEN_LOCATION = "ScriptAlias /open/ /usr/lib/git-core/git-http-backend/\n"


class HttpHost:
    def __init__(self, scratch: Path, gate_bin: Path, server: LiveServer) -> None:
        self.scratch = scratch
        self.srv = scratch / "srv"
        self.srv.mkdir()
        subprocess.run(["chown", "www-data:", str(self.srv)], check=True)
        self.repo = self.srv / "models.git"
        run_as(
            "www-data", "git", "init", "--quiet", "--bare", "--initial-branch=main", str(self.repo)
        )
        install_gate_as_readme_says(server, scratch, gate_bin, "www-data", scratch, self.repo)
        self.htpasswd = scratch / "git.htpasswd"
        for number, (user, password) in enumerate(PASSWORDS.items()):
            create = ["-c"] if number == 0 else []
            subprocess.run(
                ["htpasswd", *create, "-b", "-B", str(self.htpasswd), user, password],
                check=True,
                capture_output=True,
            )
        site = readme_block("apache-git-conf")
        assert "/srv/git" in site and "/etc/apache2/git.htpasswd" in site
        site = site.replace("/etc/apache2/git.htpasswd", str(self.htpasswd))
        site = site.replace("/srv/git", str(self.srv))
        self.apache: Daemon = start_apache(scratch, site + OPEN_LOCATION)
        self.clones = 0

    def url(self, user: str | None, location: str = "git") -> str:
        login = f"{user}:{PASSWORDS[user]}@" if user else ""
        return f"http://{login}127.0.0.1:{self.apache.port}/{location}/models.git"

    def clone(self, user: str | None, location: str = "git") -> WorkClone:
        self.clones += 1
        return WorkClone(self.url(user, location), self.scratch / f"clone{self.clones}")


@pytest.fixture
def host(scratch: Path, gate_bin: Path, gate_server: LiveServer) -> Iterator[HttpHost]:
    need("/usr/sbin/apache2", "htpasswd")
    http_host = HttpHost(scratch, gate_bin, gate_server)
    try:
        yield http_host
    finally:
        http_host.apache.stop()


def test_basic_auth_user_is_the_pusher(host: HttpHost, gate_server: LiveServer) -> None:
    held_then_approved(gate_server, host.clone("alice"), lambda: host.clone("agent-trainer"))


def test_no_credentials_no_push(host: HttpHost) -> None:
    """The README's location asks every request for credentials, before git runs at all."""
    url = host.url(None) + "/info/refs?service=git-receive-pack"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=30)
    refused.value.close()
    assert refused.value.code == 401


def test_receivepack_unset_refuses_unauthenticated_pushes(host: HttpHost) -> None:
    """With http.receivepack unset (as the README says), git http-backend takes a push only
    from an authenticated user: without REMOTE_USER there is no push to gate at all."""
    seed = host.clone("alice")
    seed.commit("initial", {"train/loop.py": "steps = 1\n"})
    assert seed.push().ok
    anonymous = host.clone(None, "open")
    anonymous.commit("tune", {"train/loop.py": "steps = 2\n"})
    refused = anonymous.push()
    assert not refused.ok and "403" in refused.stderr, refused.stderr
    assert served_ref(seed) == seed.head()


def test_receivepack_true_lets_pushes_in_with_no_pusher(
    host: HttpHost, gate_server: LiveServer
) -> None:
    """What gate does when http.receivepack=true lets an unauthenticated push through: it sees
    no pusher, so only the commits' own marks tell an agent apart. The agent's marked commit is
    held with no pusher on the request; a commit with a human's name and no mark passes."""
    seed = host.clone("alice")
    seed.commit("initial", {"train/loop.py": "steps = 1\n"})
    assert seed.push().ok
    run_as("www-data", "git", "-C", str(host.repo), "config", "http.receivepack", "true")
    anonymous = host.clone(None, "open")
    anonymous.commit("tune", {"train/loop.py": "steps = 2\n"}, trailers=[CLAUDE_TRAILER])
    held = anonymous.push()
    assert not held.ok
    assert pusher_of_request(gate_server, request_id_from(held.gate_lines)) is None
    anonymous.run("reset", "--quiet", "--hard", "HEAD~1")
    unmarked = anonymous.commit("tune", {"train/loop.py": "steps = 2\n"}, author=HUMAN)
    assert anonymous.push().ok
    assert served_ref(seed) == unmarked
    pushes_without_pusher(gate_server, 1)  # shown on /admin/repositories
