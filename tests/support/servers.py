"""Real git servers for tests: OpenSSH, Apache in front of git http-backend, gitolite3.

Each server is started by a fixture on 127.0.0.1 with its own configuration in a scratch
directory, runs as a real unprivileged account the fixture creates, and is stopped after.
Servers that switch users need root. A missing binary (or no root) is a skip; with
GATE_REQUIRE_SERVERS set (CI, which installs them in .ci/run) it is a failure.

The host set-up steps come from the README itself (``readme_block``): the tests run what the
README tells admins to run, so the two cannot drift apart.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.gitrepo import WorkClone
from tests.support.server import (
    POLICY,
    LiveServer,
    eventually,
    heartbeat_of,
    new_token,
    request_id_from,
    wait_for_heartbeat,
)

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS_HOSTS = ROOT / "docs" / "hosts"
GATE_BIN = Path(sys.executable).parent  # the venv the tests run in: gate, python
REQUIRE = "GATE_REQUIRE_SERVERS"


def need(*programs: str) -> dict[str, str]:
    """The absolute paths of ``programs`` (names or absolute paths), or skip (fail in CI)."""
    found: dict[str, str] = {}
    missing = []
    for program in programs:
        path = program if os.path.isabs(program) else shutil.which(program)
        if path and os.access(path, os.X_OK):
            found[program] = path
        else:
            missing.append(program)
    problem = None
    if missing:
        problem = f"not installed: {', '.join(missing)} (.ci/run installs them)"
    elif os.geteuid() != 0:
        problem = "starting a server that logs in as another account needs root"
    if problem:
        if os.environ.get(REQUIRE):
            pytest.fail(f"{problem}, and {REQUIRE} is set")
        pytest.skip(problem)
    return found


@contextmanager
def host_gate() -> Iterator[Path]:
    """A bin directory with ``gate`` and ``python`` that other accounts can run.

    The test venv itself, when they can (as in CI); otherwise (a venv whose Python lives under
    /root, which the git account cannot enter: the trap the README warns about) a venv of the
    system's Python of the same version that reads the test venv's packages."""
    probe = subprocess.run(
        ["runuser", "-u", "nobody", "--", sys.executable, "-c", "import gate"],
        capture_output=True,
    )
    if probe.returncode == 0:
        yield GATE_BIN
        return
    system = Path("/usr/bin/python3")
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    same = (
        system.exists()
        and subprocess.run(
            [
                str(system),
                "-c",
                f"import sys; assert '%d.%d' % sys.version_info[:2] == {version!r}",
            ],
            capture_output=True,
        ).returncode
        == 0
    )
    if not same:
        problem = f"other accounts cannot run {sys.executable}, and there is no /usr/bin/python3 {version}"
        if os.environ.get(REQUIRE):
            pytest.fail(f"{problem}, and {REQUIRE} is set")
        pytest.skip(problem)
    with host_dir("python") as venv:
        subprocess.run([str(system), "-m", "venv", "--without-pip", str(venv)], check=True)
        packages = next(Path(sys.prefix).glob("lib/python*/site-packages"))
        site = next(venv.glob("lib/python*/site-packages"))
        (site / "gate-tests.pth").write_text(f"import site; site.addsitedir({str(packages)!r})\n")
        script = venv / "bin" / "gate"
        script.write_text(
            f"#!{venv / 'bin' / 'python'}\nimport sys\nfrom gate.cli.main import main\n"
            "sys.exit(main())\n"
        )
        script.chmod(0o755)
        yield venv / "bin"


def readme_block(name: str) -> str:
    """The fenced block that follows ``<!-- tested: NAME -->`` in the README."""
    text = README.read_text(encoding="utf-8")
    match = re.search(
        rf"<!-- tested: {re.escape(name)} -->\s*\n```[a-z]*\n(.*?)\n```", text, re.DOTALL
    )
    assert match, f"the README has no block marked <!-- tested: {name} -->"
    return match.group(1) + "\n"


def run_readme_block(name: str, cwd: Path, variables: dict[str, str]) -> str:
    """Run a README shell block as root, with the variables its settings block names."""
    env = {**os.environ, **variables}
    proc = subprocess.run(
        ["sh", "-eu", "-c", readme_block(name)], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, f"README block {name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@contextmanager
def host_dir(prefix: str) -> Iterator[Path]:
    """A scratch directory other accounts can enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix=f"gate-{prefix}-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def system_user(kind: str, home: Path, shell: str) -> Iterator[str]:
    """A real account for one test session, removed after. Its password is ``*`` (no password
    login, but not a locked account, which sshd without PAM would refuse)."""
    name = f"gt{os.getpid() % 100000}{kind}"[:32]
    subprocess.run(["userdel", name], capture_output=True)  # a leftover of a killed run
    subprocess.run(
        ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", str(home),
         "--shell", shell, "--password", "*", name],
        check=True,
        capture_output=True,
    )  # fmt: skip
    home.mkdir(parents=True, exist_ok=True)
    shutil.chown(home, name, name)
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], capture_output=True)


def run_as(user: str, *command: str, cwd: Path | None = None, stdin: str | None = None) -> str:
    proc = subprocess.run(
        ["runuser", "-u", user, "--", *command],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, f"{' '.join(command)} as {user} failed:\n{proc.stderr}"
    return proc.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Daemon:
    """A server process started by a test; ``stop`` ends it (and only it)."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def wait_ready(self, seconds: float = 30.0) -> None:
        """Until the port accepts connections; the server's log when it dies or never does."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited:\n{self.log_text()}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError(f"{self.name} never listened on {self.port}:\n{self.log_text()}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start(name: str, command: list[str], port: int, log: Path) -> Daemon:
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    daemon = Daemon(name, proc, port, log)
    try:
        daemon.wait_ready()
    except BaseException:
        daemon.stop()
        raise
    return daemon


# OpenSSH ----------------------------------------------------------------------------------


@dataclass
class SshKey:
    path: Path
    public: str  # "ssh-ed25519 AAAA... comment"


def ssh_key(directory: Path, name: str) -> SshKey:
    path = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return SshKey(path, path.with_suffix(".pub").read_text().strip())


@dataclass
class Sshd:
    """An sshd on 127.0.0.1 for one account, with its own host key and authorized_keys."""

    daemon: Daemon
    user: str
    directory: Path
    authorized_keys: Path
    known_hosts: Path

    def ssh_command(self, key: SshKey) -> str:
        """What GIT_SSH_COMMAND / core.sshCommand must be to log in with ``key``."""
        return (
            f"ssh -F none -i {key.path} -o IdentitiesOnly=yes -o BatchMode=yes"
            f" -o UserKnownHostsFile={self.known_hosts} -o StrictHostKeyChecking=yes"
        )

    def url(self, path: Path | str) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.daemon.port}{path}"


def start_sshd(directory: Path, user: str, config_lines: str, authorized_keys: str | Path) -> Sshd:
    """sshd as root (it must switch to ``user``), with ``config_lines`` from the README;
    ``authorized_keys`` is their text, or the file another program keeps (gitolite's)."""
    paths = need("/usr/sbin/sshd", "ssh", "ssh-keygen")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    host_key = directory / "host_ed25519"
    if not host_key.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)],
            check=True,
            capture_output=True,
        )
    if isinstance(authorized_keys, Path):
        keys = authorized_keys
    else:
        keys = directory / "authorized_keys"
        keys.write_text(authorized_keys)
        keys.chmod(0o644)
    port = free_port()
    known = directory / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {host_key.with_suffix('.pub').read_text()}")
    config = directory / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
        f"PidFile {directory / 'sshd.pid'}\nAuthorizedKeysFile {keys}\n"
        # The scratch directory lives under /tmp, which StrictModes rejects (world-writable).
        "StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        f"AllowUsers {user}\nLogLevel VERBOSE\n" + config_lines
    )
    check = subprocess.run(
        [paths["/usr/sbin/sshd"], "-t", "-f", str(config)], capture_output=True, text=True
    )
    assert check.returncode == 0, f"sshd rejects its configuration: {check.stderr}"
    daemon = start(
        "sshd",
        [paths["/usr/sbin/sshd"], "-D", "-e", "-f", str(config)],
        port,
        directory / "sshd.log",
    )
    return Sshd(daemon, user, directory, keys, known)


def authorized_keys_from_readme(block: str, keys: dict[str, SshKey]) -> str:
    """The README's authorized_keys lines with each placeholder key (``ssh-ed25519 AAAA...
    COMMENT``) replaced by the test's key of that comment."""
    lines = []
    for line in block.splitlines():
        match = re.search(r"ssh-ed25519 AAAA\.\.\. (\S+)$", line)
        assert match, f"not an authorized_keys line with a placeholder key: {line!r}"
        lines.append(line[: match.start()] + keys[match.group(1)].public)
    return "\n".join(lines) + "\n"


# What every host must do ------------------------------------------------------------------


def served_ref(clone: WorkClone, ref: str = "refs/heads/main") -> str | None:
    """The ref as the server shows it, read through the host's own transport."""
    out = clone.run("ls-remote", "origin", ref)
    return out.split()[0] if out else None


def install_gate_as_readme_says(
    server: LiveServer, scratch: Path, gate_bin: Path, owner: str, git_home: Path, repo: Path
) -> dict[str, str]:
    """Run the README's install-hook block as root; the values it was run with."""
    variables = install_gate_values(server, scratch, gate_bin, owner, git_home, repo)
    run_readme_block("install-hook", scratch / "admin", variables)
    return variables


def install_gate_values(
    server: LiveServer, scratch: Path, gate_bin: Path, owner: str, git_home: Path, repo: Path
) -> dict[str, str]:
    """The README's settings block, for this test: ``policy.toml`` and ``hook-token`` are in
    ``scratch/admin``, where the README's blocks run."""
    admin = scratch / "admin"
    admin.mkdir(exist_ok=True)
    (admin / "policy.toml").write_text(POLICY)
    (admin / "hook-token").write_text(new_token(server.app) + "\n")
    return {
        "GATE": str(gate_bin / "gate"),
        "SERVER": server.url,
        "ETC": str(scratch / "etc-gate"),
        "OWNER": owner,
        "GIT_HOME": str(git_home),
        "REPO": str(repo),
        "NAME": "models",
    }


def held_then_approved(
    server: LiveServer,
    human: WorkClone,
    agent_clone: Callable[[], WorkClone],
    layout: str = "git",
) -> None:
    """The core loop through a real host: a human's push to a guarded path passes; an agent
    account's push of a human-looking commit to it is held (so the authenticated pusher reached
    the hook), leaves the repository unchanged, and passes once a named human approves. The
    post-receive hook ran too: the server has the repository's heartbeat, in ``layout``."""
    human.commit("initial", {"README.md": "hi\n", "train/loop.py": "steps = 1\n"})
    first = human.push()
    assert first.ok, first.stderr
    human.commit("tune", {"train/loop.py": "steps = 2\n"})
    tuned = human.push()
    assert tuned.ok, tuned.stderr
    assert served_ref(human) == human.head()

    agent = agent_clone()
    agent.run("checkout", "--quiet", "-B", "main", "origin/main")  # whatever the host's HEAD is
    before = served_ref(agent)
    sha = agent.commit("Speed up the loop", {"train/loop.py": "steps = 3\n"})  # a human's name
    held = agent.push()
    assert not held.ok, "an agent account's push to a guarded path must be held"
    text = "\n".join(held.gate_lines)
    assert sha[:12] in text and "agent-trainer" in text, held.stderr
    assert served_ref(agent) == before, "a held push must leave the repository unchanged"

    request_id = request_id_from(held.gate_lines)
    assert pusher_of_request(server, request_id) == "agent-trainer"
    decided = server.reviewer("alice").decide(request_id, "approve", "Read the diff")
    assert decided.ok and "Your decision was recorded" in decided.text
    landed = agent.push()
    assert landed.ok, landed.stderr
    assert served_ref(agent) == sha
    beat = wait_for_heartbeat(server.app, "models")
    assert (beat.layout, beat.source, beat.unknown_pusher_pushes) == (layout, "post-receive", 0)


def pusher_of_request(server: LiveServer, request_id: int) -> str | None:
    from gate.server.database import command
    from gate.server.extensions import db
    from gate.server.models import ApprovalRequest

    with command(server.app):
        request = db.session.get(ApprovalRequest, request_id)
        assert request is not None
        return request.pusher


# Apache in front of git http-backend ------------------------------------------------------

APACHE_MODULES = (
    "mpm_event", "authz_core", "authn_core", "authn_file", "auth_basic", "authz_user", "cgid",
    "alias", "env",
)  # fmt: skip


def start_apache(directory: Path, site: str) -> Daemon:
    """Apache as root on 127.0.0.1, running CGI as www-data as Debian's does, with ``site``
    (the README's configuration, its paths replaced) and nothing else."""
    paths = need("/usr/sbin/apache2", "/usr/lib/git-core/git-http-backend")
    port = free_port()
    modules = "".join(
        f"LoadModule {name}_module /usr/lib/apache2/modules/mod_{name}.so\n"
        for name in APACHE_MODULES
    )
    config = directory / "apache2.conf"
    config.write_text(
        f"ServerRoot {directory}\nServerName 127.0.0.1\nListen 127.0.0.1:{port}\n"
        f"PidFile {directory / 'apache2.pid'}\nDefaultRuntimeDir {directory}\n"
        f"Mutex file:{directory} default\nScriptSock {directory / 'cgid.sock'}\n"
        f"ErrorLog {directory / 'error.log'}\nLogLevel warn\nUser www-data\nGroup www-data\n"
        f"{modules}{site}"
    )
    check = subprocess.run(
        [paths["/usr/sbin/apache2"], "-t", "-f", str(config)], capture_output=True, text=True
    )
    assert check.returncode == 0, f"apache2 rejects its configuration: {check.stderr}"
    return start(
        "apache2",
        [paths["/usr/sbin/apache2"], "-f", str(config), "-DFOREGROUND"],
        port,
        directory / "error.log",
    )


# nginx and fcgiwrap in front of git http-backend -------------------------------------------


@dataclass
class NginxSite:
    """nginx (as root, workers as www-data) and fcgiwrap (as www-data); ``stop`` ends both."""

    nginx: Daemon
    fcgiwrap: subprocess.Popen[bytes]

    @property
    def port(self) -> int:
        return self.nginx.port

    def stop(self) -> None:
        self.nginx.stop()
        if self.fcgiwrap.poll() is None:
            self.fcgiwrap.terminate()
            try:
                self.fcgiwrap.wait(10)
            except subprocess.TimeoutExpired:
                self.fcgiwrap.kill()
                self.fcgiwrap.wait(10)


def start_nginx(directory: Path, site: str) -> NginxSite:
    """fcgiwrap as www-data on a socket in ``directory``, as Debian's fcgiwrap.socket runs it,
    then nginx on 127.0.0.1 with ``site`` (the README's server block, its paths replaced) and
    nothing else; ``site`` names the socket ``/run/fcgiwrap.socket``."""
    paths = need("/usr/sbin/nginx", "/usr/sbin/fcgiwrap", "/usr/lib/git-core/git-http-backend")
    run = directory / "nginx-run"
    run.mkdir()
    subprocess.run(["chown", "www-data:", str(run)], check=True)
    sock = run / "fcgiwrap.socket"
    log = directory / "fcgiwrap.log"
    with open(log, "ab") as out:
        fcgiwrap = subprocess.Popen(
            ["runuser", "-u", "www-data", "--", paths["/usr/sbin/fcgiwrap"], "-s", f"unix:{sock}"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    end = time.monotonic() + 30
    while not sock.exists():
        if fcgiwrap.poll() is not None or time.monotonic() > end:
            fcgiwrap.kill()
            raise AssertionError(f"fcgiwrap did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.05)
    port = free_port()
    temp = "".join(
        f"{kind}_temp_path {run / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    config = directory / "nginx.conf"
    config.write_text(
        f"daemon off;\nuser www-data;\npid {directory / 'nginx.pid'};\n"
        f"error_log {directory / 'nginx-error.log'} warn;\nevents {{}}\n"
        f"http {{\naccess_log off;\n{temp}"
        + site.replace("listen 80;", f"listen 127.0.0.1:{port};").replace(
            "/run/fcgiwrap.socket", str(sock)
        )
        + "}\n"
    )
    check = subprocess.run(
        [paths["/usr/sbin/nginx"], "-t", "-c", str(config)], capture_output=True, text=True
    )
    if check.returncode != 0:
        fcgiwrap.kill()
        raise AssertionError(f"nginx rejects its configuration: {check.stderr}")
    try:
        nginx = start(
            "nginx",
            [paths["/usr/sbin/nginx"], "-c", str(config)],
            port,
            directory / "nginx-error.log",
        )
    except BaseException:
        fcgiwrap.kill()
        raise
    return NginxSite(nginx, fcgiwrap)


def pushes_without_pusher(server: LiveServer, count: int) -> None:
    """The server has counted ``count`` pushes whose hook saw no authenticated pusher."""
    eventually(
        lambda: (row := heartbeat_of(server.app, "models")) and row.unknown_pusher_pushes == count,
        f"heartbeats counting {count} pushes with no pusher",
        60,
    )
