"""gate behind nginx, fcgiwrap and git http-backend with Basic auth, set up as the README says.

nginx runs as root on 127.0.0.1 (workers as www-data) with only the README's server block (paths
replaced); fcgiwrap runs git http-backend as www-data, which owns the repository and the token.
"""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gitrepo import WorkClone
from tests.support.server import LiveServer
from tests.support.servers import (
    NginxSite,
    held_then_approved,
    install_gate_as_readme_says,
    need,
    readme_block,
    run_as,
    start_nginx,
)

pytestmark = pytest.mark.e2e

PASSWORDS = {"alice": "alice-secret", "agent-trainer": "trainer-secret"}


class NginxHost:
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
        site = readme_block("nginx-git-conf")
        assert "/srv/git" in site and "/etc/nginx/git.htpasswd" in site
        site = site.replace("/etc/nginx/git.htpasswd", str(self.htpasswd))
        site = site.replace("/srv/git", str(self.srv))
        self.nginx: NginxSite = start_nginx(scratch, site)
        self.clones = 0

    def url(self, user: str | None) -> str:
        login = f"{user}:{PASSWORDS[user]}@" if user else ""
        return f"http://{login}127.0.0.1:{self.nginx.port}/git/models.git"

    def clone(self, user: str | None) -> WorkClone:
        self.clones += 1
        return WorkClone(self.url(user), self.scratch / f"clone{self.clones}")


@pytest.fixture
def host(scratch: Path, gate_bin: Path, gate_server: LiveServer) -> Iterator[NginxHost]:
    need("/usr/sbin/nginx", "/usr/sbin/fcgiwrap", "htpasswd")
    http_host = NginxHost(scratch, gate_bin, gate_server)
    try:
        yield http_host
    finally:
        http_host.nginx.stop()


def test_basic_auth_user_is_the_pusher(host: NginxHost, gate_server: LiveServer) -> None:
    held_then_approved(gate_server, host.clone("alice"), lambda: host.clone("agent-trainer"))


def test_no_credentials_no_push(host: NginxHost) -> None:
    url = host.url(None) + "/info/refs?service=git-receive-pack"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=30)
    refused.value.close()
    assert refused.value.code == 401
