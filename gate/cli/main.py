"""The gate command line. Parses arguments and dispatches; only this module exits the process."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gate import __version__
from gate.clock import DAY_HELP, FORMATS_HELP, TIME_HELP
from gate.errors import GateError, prefixed
from gate.git.config import LAYOUTS


def _fail(message: str, code: int = 1) -> None:
    click.echo("\n".join(prefixed(line) for line in message.splitlines() or [""]), err=True)
    sys.exit(code)


def _app():  # type: ignore[no-untyped-def]
    """The server's app as configured by GATE_*, for commands that make the database."""
    from gate.server.app import create_app

    return create_app()


def _database():  # type: ignore[no-untyped-def]
    """The app, once its database is reachable and at this gate's schema (else one paragraph
    naming the fix): every command that reads or writes the database starts here."""
    from gate.server.database import require_schema

    app = _app()
    require_schema(app)
    return app


def _service_call(func, *args, **kwargs):  # type: ignore[no-untyped-def]
    try:
        return func(*args, **kwargs)
    except GateError as exc:  # ServiceError and InputError included
        _fail(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gate")
def cli() -> None:
    """gate: a human-in-the-loop approval gate for code changes pushed by AI agents."""


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database to the newest schema."""
    from gate.server.database import database_name, upgrade_database

    app = _app()
    click.echo(f"gate: {upgrade_database(app)} in {database_name(app)}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
def serve(host: str, port: int) -> None:
    """Run the web app and API (for production, run gate.server.app:create_app() under gunicorn).

    Refuses to start unless the database has this gate's schema (`gate db upgrade` makes it)."""
    app = _database()
    app.run(host=host, port=port, threaded=True, use_reloader=False)


@cli.group()
def user() -> None:
    """Reviewer and admin accounts."""


@user.command("add")
@click.argument("username")
@click.option("--name", default=None, help="Full name, shown on every sign-off (humans: required).")
@click.option(
    "--email", default=None, help="Required for humans; agents default to NAME@agents.invalid."
)
@click.option(
    "--role",
    type=click.Choice(["reviewer", "admin", "auditor"]),
    default=None,
    help="A human's role (default reviewer).",
)
@click.option(
    "--agent",
    is_flag=True,
    help="An agent account: the pusher name its git host authenticates; it never logs in or "
    "approves, and gets read tokens for its own requests.",
)
@click.option("--operator", default=None, help="With --agent: the human who operates the agent.")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
def user_add(
    username: str,
    name: str | None,
    email: str | None,
    role: str | None,
    agent: bool,
    operator: str | None,
    password_stdin: bool,
) -> None:
    """Add a named reviewer, admin or auditor, or an agent account (--agent --operator HUMAN)."""
    from gate.server.database import command
    from gate.server.services.accounts import add_agent, add_user
    from gate.server.services.actor import Actor

    app = _database()  # before asking for a password it could not store
    if agent:
        if not operator:
            _fail("an agent account needs --operator HUMAN: the person who runs the agent")
        if role or password_stdin:
            _fail(
                "agent accounts have no role and no password: leave out --role and --password-stdin"
            )
        with command(app):
            created = _service_call(
                add_agent, username, operator, name=name, email=email, actor=Actor.cli()
            )
            click.echo(
                f"gate: added agent account {created.username}, operated by {operator}; "
                f"give it a read token for gate wait: gate token create --agent {created.username} --read"
            )
        return
    if operator:
        _fail("--operator is for agent accounts (--agent)")
    if not name or not email:
        _fail("a human account needs --name and --email")
    assert name is not None and email is not None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with command(app):
        created = _service_call(
            add_user, username, name, email, password, role or "reviewer", actor=Actor.cli()
        )
        click.echo(f"gate: added {created.role} {created.username} ({created.display})")


@user.command("list")
def user_list() -> None:
    """List accounts: username, role, enabled or disabled, name and email."""
    from gate.server.database import command
    from gate.server.services.accounts import list_users

    with command(_database()):
        for account in list_users():
            state = "enabled" if account.active else "disabled"
            click.echo(f"{account.username}\t{account.role}\t{state}\t{account.display}")


def _set_active(username: str, active: bool) -> None:
    from gate.server.database import command
    from gate.server.services.accounts import set_active, user_named
    from gate.server.services.actor import Actor

    with command(_database()):
        account = _service_call(user_named, username)
        was = account.active
        _service_call(set_active, account, active, actor=Actor.cli())
        verb = "enabled" if active else "disabled"
        if was == active:
            click.echo(f"gate: {account.username} was already {verb}")
        elif active:
            click.echo(f"gate: enabled {account.username}")
        else:
            click.echo(
                f"gate: disabled {account.username}: their sessions have ended, and their "
                "approvals of undecided requests no longer count"
            )


@user.command("disable")
@click.argument("username")
def user_disable(username: str) -> None:
    """Disable an account: it cannot log in, its sessions end, its pending approvals lapse."""
    _set_active(username, False)


@user.command("enable")
@click.argument("username")
def user_enable(username: str) -> None:
    """Enable a disabled account again."""
    _set_active(username, True)


@user.command("reset-password")
@click.argument("username")
@click.option(
    "--password-stdin", is_flag=True, help="Read the new password from the first line of stdin."
)
def user_reset_password(username: str, password_stdin: bool) -> None:
    """Set a new password for an account; every session it has ends."""
    from gate.server.database import command
    from gate.server.services.accounts import reset_password, user_named
    from gate.server.services.actor import Actor

    with command(_database()):
        account = _service_call(user_named, username)
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
        _service_call(reset_password, account, password, actor=Actor.cli())
        click.echo(f"gate: set a new password for {account.username}; their sessions have ended")


@cli.group()
def token() -> None:
    """API tokens: git hosts' hook tokens, and agents' read tokens for gate wait."""


@token.command("create")
@click.option("--host", default=None, help="A hook token: the git host whose hooks use it.")
@click.option(
    "--repo",
    "repos",
    multiple=True,
    help="With --host: a repository it speaks for, exact or a pattern like 'ml/*' or 'ml/**' "
    "(repeatable).",
)
@click.option("--all-repos", is_flag=True, help="With --host: every repository (prefer --repo).")
@click.option("--agent", default=None, help="An agent's read token: the agent account.")
@click.option("--read", is_flag=True, help="With --agent: read only (the only kind there is).")
@click.option("--name", default=None, help="A label (default: the host, or 'agent NAME').")
def token_create(
    host: str | None,
    repos: tuple[str, ...],
    all_repos: bool,
    agent: str | None,
    read: bool,
    name: str | None,
) -> None:
    """Create a token; the secret is printed once, as the last line.

    \b
    A git host's hook token (holds and push reports for its repositories only):
      gate token create --host git.example.com --repo 'ml/*' --repo models
    An agent's read token (reads only that agent's requests; what gate wait uses):
      gate token create --agent agent-trainer --read
    """
    from gate.server.database import command
    from gate.server.services import scopes
    from gate.server.services.accounts import create_agent_token, create_hook_token
    from gate.server.services.actor import Actor

    if bool(host) == bool(agent):
        _fail(
            "say which token: --host HOST --repo PATTERN (a git host's hook token) "
            "or --agent ACCOUNT --read (an agent's read token)"
        )
    if agent and not read:
        _fail("agent tokens only read: add --read")
    if agent and (repos or all_repos):
        _fail("an agent's read token has no repositories: it reads that agent's requests")
    if host and read:
        _fail("--read is for agent tokens (--agent ACCOUNT --read)")
    with command(_database()):
        if host:
            created, secret = _service_call(
                create_hook_token,
                host,
                list(repos),
                all_repositories=all_repos,
                name=name,
                actor=Actor.cli(),
            )
        else:
            created, secret = _service_call(create_agent_token, agent, name=name, actor=Actor.cli())
        if all_repos:
            click.echo(
                "gate: warning: this hook token speaks for every repository; one per host with "
                "--repo patterns grants less",
                err=True,
            )
        click.echo(f"gate: created token {created.id}: {scopes.describe(created)}")
        click.echo("gate: store it now, it is not shown again:")
        click.echo(secret)


@token.command("list")
def token_list() -> None:
    """List tokens with their scope; unscoped ones (made before scopes) are flagged."""
    from gate.server.database import command
    from gate.server.services import scopes
    from gate.server.services.accounts import list_tokens

    with command(_database()):
        tokens = list_tokens()
        if not tokens:
            click.echo("gate: no tokens")
        for made in tokens:
            state = f"revoked {made.revoked_at:%Y-%m-%d %H:%M}" if made.revoked_at else "active"
            used = f"{made.last_used_at:%Y-%m-%d %H:%M}" if made.last_used_at else "never"
            click.echo(
                f"{made.id}\t{made.prefix}…\t{state}\tlast used {used}\t{made.name}\t"
                f"{scopes.describe(made)}"
            )
        unscoped = [t.id for t in tokens if t.unscoped and not t.revoked_at]
        if unscoped:
            click.echo(
                f"gate: warning: token(s) {', '.join(map(str, unscoped))} are unscoped (made "
                "before token scopes) and speak for every repository: replace each with "
                "gate token create --host HOST --repo PATTERN, then revoke it",
                err=True,
            )


@token.command("revoke")
@click.argument("token_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def token_revoke(token_id: int, yes: bool) -> None:
    """Revoke a token: every hook or agent using it is refused from then on."""
    from gate.server.database import command
    from gate.server.extensions import db as database
    from gate.server.models import HookToken
    from gate.server.services import scopes
    from gate.server.services.accounts import revoke_token
    from gate.server.services.actor import Actor

    with command(_database()):
        found = database.session.get(HookToken, token_id)
        if found is None:
            _fail(f"there is no token {token_id}")
        assert found is not None
        if found.revoked_at is not None:
            click.echo(f"gate: token {token_id} was already revoked")
            return
        if not yes and not click.confirm(
            f"Revoke token {token_id} ({scopes.describe(found)})? Whatever uses it is refused "
            "from then on",
            err=True,
        ):
            _fail("nothing revoked")
        revoked = _service_call(revoke_token, token_id, actor=Actor.cli())
        click.echo(f"gate: revoked token {revoked.id} ({revoked.name})")


@cli.group()
def key() -> None:
    """Signing keys: which SSH and OpenPGP keys sign commits for which account (docs/signing.md)."""


@key.command("add")
@click.argument("account")
@click.option(
    "--ssh", "ssh_file", type=click.Path(dir_okay=False), help="An SSH public key (.pub)."
)
@click.option(
    "--gpg", "gpg_file", type=click.Path(dir_okay=False), help="An armored OpenPGP public key."
)
def key_add(account: str, ssh_file: str | None, gpg_file: str | None) -> None:
    """Register a public key that signs commits for ACCOUNT (a human or an agent account)."""
    from gate.server.database import command
    from gate.server.services.actor import Actor
    from gate.server.services.signing_keys import add_key

    if (ssh_file is None) == (gpg_file is None):
        _fail("give exactly one of --ssh PUBKEY_FILE or --gpg PUBKEY_FILE")
    path = ssh_file or gpg_file
    assert path is not None
    app = _database()  # before reading a key it could not store
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}")
    with command(app):
        kind = "ssh" if ssh_file else "gpg"
        added = _service_call(add_key, account, kind, text, actor=Actor.cli())
        who = "agent" if added.account.is_agent else "human"
        click.echo(
            f"gate: registered {added.key_type} key {added.fingerprint} for {who} "
            f"{added.account.username}"
        )


@key.command("revoke")
@click.argument("fingerprint")
@click.option(
    "--from",
    "start",
    default=None,
    help=f"Revoked from this time (default now): {FORMATS_HELP}; {TIME_HELP}.",
)
def key_revoke(fingerprint: str, start: str | None) -> None:
    """Revoke a key: from then on it signs for no one (never human, in any guard)."""
    from gate.clock import parse_moment, utc_text
    from gate.server.database import command
    from gate.server.services.actor import Actor
    from gate.server.services.signing_keys import revoke_key

    moment = _service_call(parse_moment, start) if start else None
    with command(_database()):
        revoked = _service_call(revoke_key, fingerprint, start=moment, actor=Actor.cli())
        click.echo(
            f"gate: revoked key {revoked.fingerprint} of {revoked.account.username} from "
            f"{utc_text(revoked.revoked_at)}"
        )


@key.command("list")
def key_list() -> None:
    """List registered keys: fingerprint, account, human or agent, type, added, revoked."""
    from gate.clock import utc_text
    from gate.server.database import command
    from gate.server.services.signing_keys import list_keys

    with command(_database()):
        keys = list_keys()
        if not keys:
            click.echo("gate: no signing keys")
        for found in keys:
            who = "agent" if found.account.is_agent else "human"
            state = f"revoked from {utc_text(found.revoked_at)}" if found.revoked_at else "active"
            click.echo(
                f"{found.fingerprint}\t{found.account.username}\t{who}\t{found.key_type}\t"
                f"added {utc_text(found.added_at)}\t{state}"
            )


@cli.command("install-hook")
@click.argument("repo", type=click.Path(file_okay=False), required=False)
@click.option("--server", help="Base URL of the gate server, e.g. https://gate.example.com")
@click.option("--token-file", type=click.Path(dir_okay=False))
@click.option("--policy", "policy", type=click.Path(dir_okay=False))
@click.option(
    "--name", default=None, help="Repository name shown to reviewers (default: its path)."
)
@click.option(
    "--layout",
    type=click.Choice(LAYOUTS),
    default="git",
    show_default=True,
    help="Where the git host runs hooks (README: per host).",
)
@click.option(
    "--config",
    "central",
    type=click.Path(dir_okay=False),
    help="A central configuration for server-wide installs (instead of --server/--token-file/--policy).",
)
@click.option("--server-wide", type=click.Path(file_okay=False), help="GitLab: custom_hooks_dir.")
@click.option("--local-code", type=click.Path(file_okay=False), help="gitolite: LOCAL_CODE.")
@click.option("--hook-repo", type=click.Path(file_okay=False), help="GHES: the hook repository.")
@click.option(
    "--budget",
    type=click.FloatRange(min=0.5),
    default=None,
    help="Seconds the whole hook may take, server calls included (default 10; 4 on ghes).",
)
@click.option(
    "--require-pusher",
    is_flag=True,
    help="Refuse pushes to protected refs that name no authenticated pusher.",
)
@click.option(
    "--unknown-pusher",
    type=click.Choice(["human", "agent"]),
    default="human",
    show_default=True,
    help="Whose commits a push with no authenticated pusher brings.",
)
@click.option(
    "--no-server-check", is_flag=True, help="Do not ask the server whether it takes the token."
)
def install_hook_cmd(
    repo: str | None,
    server: str | None,
    token_file: str | None,
    policy: str | None,
    name: str | None,
    layout: str,
    central: str | None,
    server_wide: str | None,
    local_code: str | None,
    hook_repo: str | None,
    budget: float | None,
    require_pusher: bool,
    unknown_pusher: str,
    no_server_check: bool,
) -> None:
    """Install gate's hooks where the git host runs them, after checking they would work."""
    from gate.git.install import install_hook

    lines = _service_call(
        install_hook,
        repo,
        server,
        token_file,
        policy,
        name,
        layout=layout,
        budget=budget,
        require_pusher=require_pusher,
        unknown_pusher=unknown_pusher,
        central=central,
        server_wide=server_wide,
        local_code=local_code,
        hook_repo=hook_repo,
        check_server=not no_server_check,
    )
    for line in lines:
        click.echo(f"gate: {line}")


@cli.command("doctor")
@click.argument("repo", type=click.Path(file_okay=False))
@click.option(
    "--layout",
    type=click.Choice(LAYOUTS),
    default=None,
    help="Default: found from where gate's hook is.",
)
@click.option("--server-wide", type=click.Path(file_okay=False), help="GitLab: custom_hooks_dir.")
@click.option(
    "--env",
    "variables",
    multiple=True,
    metavar="NAME=VALUE",
    help="A host variable naming the repository (server-wide installs), e.g. GL_REPO=models.",
)
@click.option(
    "--report",
    is_flag=True,
    help="Also send the findings to the gate server as a heartbeat (from cron): it alerts on "
    "problems and on repositories that go quiet.",
)
def doctor_cmd(
    repo: str,
    layout: str | None,
    server_wide: str | None,
    variables: tuple[str, ...],
    report: bool,
) -> None:
    """Check that git really runs gate for REPO and that gate has what it needs.

    Exit 0 when healthy; 1 with each problem and its fix."""
    from gate.git.doctor import doctor

    environ = dict(v.partition("=")[::2] for v in variables)
    problems = _service_call(doctor, repo, layout, server_wide, environ)
    if report:
        from gate.git.checkpoints import keep_checkpoint
        from gate.git.config import load_hook_config
        from gate.git.heartbeat import report_doctor
        from gate.git.layouts import git_dir_of

        try:
            git_dir = str(git_dir_of(repo))
            config = load_hook_config(git_dir, environ)
            answer, lost = report_doctor(config, environ, problems, git_dir)
            problems = [*problems, *lost]
        except GateError as exc:
            problems = [*problems, f"the findings could not be reported to the server: {exc}"]
        else:
            if kept := keep_checkpoint(git_dir, answer["checkpoint"]):
                problems = [*problems, kept]
    if not problems:
        click.echo(f"gate: {repo}: healthy, gate guards its pushes")
        return
    _fail("\n".join(f"problem: {problem}" for problem in problems))


@cli.command()
@click.argument("repo", type=click.Path(file_okay=False))
@click.argument("old")
@click.argument("new")
@click.argument("ref")
@click.option("--pusher", default=None, help="Authenticated pusher name to assume.")
@click.option(
    "--policy",
    "policy",
    default=None,
    type=click.Path(dir_okay=False),
    help="Default: the installed hook's.",
)
@click.option(
    "--history",
    is_flag=True,
    help="Judge OLD..NEW even where it is already on a protected ref (try a policy against "
    "history; OLD all zeros: everything NEW reaches).",
)
def check(
    repo: str,
    old: str,
    new: str,
    ref: str,
    pusher: str | None,
    policy: str | None,
    history: bool,
) -> None:
    """Dry run: print what a push of OLD..NEW to REF would hold and why. Exit 1 if it holds.

    Without --history, commits some protected ref already has are not inspected, as in the
    hook; with it, the whole range is, as though it were being pushed for the first time."""
    from gate.cli.check import check as run_check

    code, lines = run_check(repo, old, new, ref, pusher, policy, history)
    for line in lines:
        click.echo(line)
    sys.exit(code)


@cli.group()
def policy() -> None:
    """Policy files."""


@policy.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
def policy_check(file: str) -> None:
    """Validate a policy file; print its problems with line numbers, or a summary."""
    from gate.git.policy import load_policy, policy_summary

    loaded = load_policy(file)
    click.echo(policy_summary(loaded))


@cli.command("wait")
@click.argument("request_id", type=int)
@click.option("--server", required=True, help="Base URL of the gate server.")
@click.option(
    "--token-file",
    required=True,
    type=click.Path(dir_okay=False),
    help="The agent's read token (gate token create --agent NAME --read) in a file: its last "
    "line that is not blank or a # comment.",
)
@click.option(
    "--timeout", type=float, default=None, help="Give up after SECONDS (default: no limit)."
)
@click.option(
    "--interval", type=float, default=5.0, show_default=True, help="Seconds between polls."
)
def wait_cmd(
    request_id: int, server: str, token_file: str, timeout: float | None, interval: float
) -> None:
    """Wait for a held request's sign-off.

    \b
    Exit codes:
      0  approved: push the same commits again
      1  denied, or superseded by a newer push
      2  timed out; the request is still undecided
      3  cannot wait: bad options, unreadable token file, token refused, no such request
      4  timed out without learning the request's state: the server was out of
         reach, or answered only with errors
    """
    from gate.cli.wait import CANNOT_WAIT, wait_for
    from gate.git.config import read_token_file

    if interval <= 0 or (timeout is not None and timeout < 0):
        _fail("--interval must be positive and --timeout not negative", CANNOT_WAIT)
    try:
        token = read_token_file(token_file)
    except GateError as exc:
        _fail(str(exc), CANNOT_WAIT)
    code = wait_for(
        request_id,
        server,
        token,
        timeout,
        interval,
        say=lambda line: click.echo(prefixed(line), err=True),
    )
    sys.exit(code)


@cli.command()
@click.option(
    "--dir", "home", default="gate-demo", show_default=True, type=click.Path(file_okay=False)
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--no-serve", is_flag=True, help="Prepare everything and print the instructions, then exit."
)
def demo(home: str, host: str, port: int, no_serve: bool) -> None:
    """A playground: demo repository with the hook, reviewers, and the server on localhost."""
    from gate.cli.demo import check_port_free, instructions, prepare_demo

    if not no_serve:
        try:
            check_port_free(host, port)
        except GateError as exc:
            _fail(str(exc), 2)
    prepared = prepare_demo(Path(home).resolve(), host, port)
    for line in instructions(prepared):
        click.echo(line)
    if not no_serve:
        click.echo("")
        _app().run(host=host, port=port, threaded=True, use_reloader=False)


def _password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True)


@cli.group()
def pause() -> None:
    """Freeze agent changes to guarded paths (admins only)."""


@pause.command("start")
@click.option("--by", "username", required=True, help="The admin starting the pause.")
@click.option("--password-stdin", is_flag=True, help="Read the admin's password from stdin.")
@click.option("--reason", required=True, help="Why: shown to every refused pusher and auditor.")
@click.option(
    "--scope",
    multiple=True,
    default=("all",),
    show_default=True,
    help="'all', or a guard name (repeat the option, or separate names with commas).",
)
@click.option(
    "--until",
    default=None,
    help=f"End by itself: an ISO date or time, or 90m / 2h / 3d ({TIME_HELP}).",
)
def pause_start(
    username: str, password_stdin: bool, reason: str, scope: tuple[str, ...], until: str | None
) -> None:
    """Start a pause: agent pushes touching paused guards are refused, even when approved."""
    from gate.cli.pause import start

    lines = _service_call(
        start, _database(), username, _password(password_stdin), reason, list(scope), until
    )
    for line in lines:
        click.echo(f"gate: {line}")


@pause.command("stop")
@click.option("--by", "username", required=True, help="The admin stopping the pause.")
@click.option("--password-stdin", is_flag=True, help="Read the admin's password from stdin.")
@click.option("--id", "pause_id", type=int, default=None, help="Stop only this pause.")
def pause_stop(username: str, password_stdin: bool, pause_id: int | None) -> None:
    """Stop the pauses in force (or one, with --id)."""
    from gate.cli.pause import stop

    for line in _service_call(stop, _database(), username, _password(password_stdin), pause_id):
        click.echo(f"gate: {line}")


@pause.command("status")
def pause_status() -> None:
    """Show the pauses in force."""
    from gate.cli.pause import status

    for line in status(_database()):
        click.echo(f"gate: {line}")


@cli.command("report")
@click.option("--since", default=None, help=f"First day or time: {DAY_HELP} ({TIME_HELP}).")
@click.option("--until", default=None, help=f"Last day (included) or end time: {DAY_HELP}.")
@click.option(
    "--format", "fmt", type=click.Choice(["html", "json", "csv"]), default="html", show_default=True
)
@click.option(
    "--week-by",
    type=click.Choice(["commit", "push"]),
    default="commit",
    show_default=True,
    help="Put commits in the week of their committer date, or of their push.",
)
@click.option(
    "--export",
    default=None,
    type=click.Path(dir_okay=False),
    help="Compute from an audit export (JSON Lines or bundle) instead of the database; it "
    "must verify as `gate audit verify` checks it.",
)
@click.option(
    "--public-key",
    default=None,
    type=click.Path(dir_okay=False),
    help="With --export: the operator's audit public key (PEM) to verify it against.",
)
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Default: stdout.")
def report_cmd(
    since: str | None,
    until: str | None,
    fmt: str,
    week_by: str,
    export: str | None,
    public_key: str | None,
    out: str | None,
) -> None:
    """Disclosure: agent vs human commits to guarded paths, sign-offs and pauses, per week."""
    from gate.cli.report import report

    if public_key is not None and export is None:
        _fail("--public-key verifies an --export; without one the report reads the database")
    text = _service_call(
        report, since, until, fmt, week_by, export, out, database=_database, public_key=public_key
    )
    click.echo(text, nl=False)


@cli.command("reconcile")
@click.argument("repo", type=click.Path(file_okay=False))
def reconcile_command(repo: str) -> None:
    """Report every agent commit on a guarded path that reached a protected ref without
    sign-off (run on the git host as the repository's owner). Exit 1 if there is any."""
    from gate.cli.reconcile import reconcile

    code, lines = _service_call(reconcile, repo)
    for line in lines:
        click.echo(line)
    sys.exit(code)


@cli.group()
def heartbeats() -> None:
    """The guarded repositories' heartbeats (see README, "Knowing gate still runs")."""


@heartbeats.command("check")
def heartbeats_check() -> None:
    """Alert on repositories whose hooks went quiet; exit 1 while any needs attention."""
    from gate.cli.heartbeats import check

    code, lines = _service_call(check, _database())
    for line in lines:
        click.echo(line)
    sys.exit(code)


@cli.group()
def audit() -> None:
    """The audit trail: checkpoints, exports, offline verification."""


@audit.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign a checkpoint of the audit log now (run it from cron too; see docs/audit.md)."""
    from gate.cli.audit import checkpoint

    for line in _service_call(checkpoint, _database()):
        click.echo(line)


@audit.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv", "bundle"]),
    default="bundle",
    show_default=True,
)
@click.option("--since", default=None, help=f"First day or time: {DAY_HELP} ({TIME_HELP}).")
@click.option("--until", default=None, help=f"Last day (included) or end time: {DAY_HELP}.")
@click.option("--out", required=True, type=click.Path(dir_okay=False))
def audit_export(fmt: str, since: str | None, until: str | None, out: str) -> None:
    """Export audit records; a bundle is signed and verifiable offline."""
    from gate.cli.audit import export

    for line in _service_call(export, _database(), fmt, since, until, out):
        click.echo(f"gate: {line}")


@audit.command("verify")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option(
    "--public-key",
    default=None,
    type=click.Path(dir_okay=False),
    help="The operator's audit public key (PEM). Without it, the bundle's own is used.",
)
@click.option(
    "--checkpoint",
    "checkpoints",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="A signed checkpoint you kept earlier (from /audit/checkpoints); repeatable.",
)
@click.option(
    "--repo",
    default=None,
    type=click.Path(file_okay=False),
    help="A clone of the repository: every agent commit on guarded paths its protected refs "
    "reach must have a matching approval in the log.",
)
@click.option(
    "--policy",
    default=None,
    type=click.Path(dir_okay=False),
    help="With --repo: the policy the repository is guarded by.",
)
@click.option(
    "--repository",
    default=None,
    help="With --repo: the repository's name in the log (default: the log's only one).",
)
def audit_verify(
    path: str,
    public_key: str | None,
    checkpoints: tuple[str, ...],
    repo: str | None,
    policy: str | None,
    repository: str | None,
) -> None:
    """Verify an export offline. Exit 0 only if everything verifies."""
    from gate.cli.audit import verify, verify_repository

    code, lines = verify(path, public_key, checkpoints)
    if repo is not None and code == 0:
        code, more = _service_call(verify_repository, path, repo, policy, repository)
        lines.extend(more)
    elif repo is not None and code == 1:
        lines.append(
            f"{repo}: not checked: the log does not verify, so its approvals prove nothing"
        )
    for line in lines:
        click.echo(f"gate: {line}" if code == 2 else line, err=code == 2)
    sys.exit(code)


@audit.command("public-key")
def audit_public_key() -> None:
    """Print the audit public key (PEM) auditors verify bundles with; its fingerprint on stderr.

    \b
    Save it for `gate audit verify`:
      gate audit public-key > audit-ed25519.pub.pem
    """
    from gate.audit.keys import current_key
    from gate.server.config import audit_key_dir

    key = current_key(audit_key_dir())
    click.echo(key.public_pem.decode("ascii"), nl=False)
    click.echo(f"gate: fingerprint {key.fingerprint}", err=True)


@audit.command("rotate-key")
def audit_rotate_key() -> None:
    """Replace the audit signing key (an audited event signed by both keys)."""
    from gate.cli.audit import rotate_key

    for line in _service_call(rotate_key, _database()):
        click.echo(f"gate: {line}")


@audit.command("prune-diffs")
@click.option(
    "--older-than",
    type=int,
    default=None,
    help="Days since the decision (default: GATE_DIFF_RETENTION_DAYS).",
)
def audit_prune_diffs(older_than: int | None) -> None:
    """Drop diff bodies of long-decided requests; their SHA-256 stays."""
    from gate.cli.audit import prune_diffs

    for line in _service_call(prune_diffs, _database(), older_than):
        click.echo(f"gate: {line}")


def main() -> None:
    try:
        cli(standalone_mode=True)
    except GateError as exc:
        _fail(str(exc))
    except Exception as exc:
        from sqlalchemy.exc import InterfaceError, OperationalError

        from gate.audit.verify import VerifyError  # standalone: not a GateError

        if isinstance(exc, VerifyError):
            _fail(str(exc), 2)
        if isinstance(exc, OperationalError | InterfaceError):  # lost the database midway
            from gate.server.config import config_from_env
            from gate.server.database import unreachable

            _fail(str(unreachable(config_from_env()["SQLALCHEMY_DATABASE_URI"], exc)))
        raise
