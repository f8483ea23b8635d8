"""What the hook reports: held items become approval requests, or find the ones they are in.

Approvals bind to (repository, key): a commit id, or a ref deletion/rewrite. Re-pushing items
that already wait returns their request; only items never seen make a new request. When a known
pusher pushes new items to a ref through a git host, that pusher's older pending requests for
the ref recorded by the same host are superseded: their items are released and held again, with everything new, in one fresh request,
so no approval carries over to changed content.

Each held commit carries the content SHA-256 the server computed over the objects it verified
(gate.server.content). An active item whose stored hash differs (a hold of the same commit
posted with other objects, say a blob left out, or one from before the server checked content)
is not the content now pushed: its request is superseded like a stale one, and the commit is
held again for review, unless that request was denied (a denial keeps refusing).

Superseding throws away standing approvals, so only content the server verified may do it: a
hold whose new items have a changed file whose content the hook did not send (over its caps,
gate.wire.MAX_SENT_BLOB; or left out by whoever posted it) is refused when it would supersede
anything (``IncompleteHold``); the old requests and their approvals stand.

A push of thousands of items is a handful of statements: one lookup of active keys per chunk,
one INSERT of all new items (executemany), one load of the requests with their decisions, and
one audit record; held items' big JSON (diffs) is never read back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import insert, select, update
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from gate import wire
from gate.server.extensions import db
from gate.server.models import (
    AGENT_ROLE,
    ApprovalRequest,
    Decision,
    HeldBlob,
    HeldItem,
    HookToken,
    Repository,
    RequestFacet,
    User,
)
from gate.server.services import Conflict, audit, mail, notify
from gate.server.services.actor import Actor
from gate.server.services.pauses import apply_pauses
from gate.server.services.progress import eligibility_rules, request_summary
from gate.wire import EMAIL_LEN, HOLD_INCOMPLETE, NAME_LEN, HoldRequest

KEY_CHUNK = 500  # keys per IN list: well under SQLite's and PostgreSQL's parameter limits


# What the hook sent, parsed by gate.wire (every field checked before it gets here).
HoldReport = HoldRequest


def record_holds(report: HoldReport, token: HookToken) -> dict[str, Any]:
    """Find or create the requests for a push; answer each item's state.

    Pushes of the same new items are serialised by the audit lock, under which the active
    keys are read again. The first sight of a repository can still race another's (unique
    name): the loser's transaction fails and the caller runs it again
    (gate.server.database.committed), when it finds the winner's row.
    """
    repo = repository_named(report.repository)
    actor = Actor.token(token)
    _note_policy(report, actor)
    keys = [item["key"] for item in report.items]
    sent = {item["key"]: item["content_sha256"] for item in report.items}
    active = _active_requests(repo.id, keys)
    request_of = _same_content(active, sent)
    new_items = [item for item in report.items if item["key"] not in request_of]
    created: dict[int, ApprovalRequest] = {}
    if new_items:
        # The audit lock first, as every writer takes it (see audit.lock): the rows read for
        # superseding are locked after it, never before. On SQLite (which ignores FOR UPDATE)
        # it is also the write lock that keeps a reviewer from approving a request between
        # this read and the supersede below, which would then release the approved items.
        audit.lock()
        # Read again under the lock: a push of overlapping items may have committed since
        # (every writer of held items holds this lock), and its items are not new any more.
        active = _active_requests(repo.id, keys)
        request_of = _same_content(active, sent)
        new_items = [item for item in report.items if item["key"] not in request_of]
    if new_items:
        changed = {key: active[key][0] for key in active if key not in request_of}
        stale = _with_changed_content(
            _supersedable(repo, report, token.host), set(changed.values())
        )
        incomplete = {item["key"]: item["unsent"] for item in new_items if item.get("unsent")}
        if stale and incomplete:
            raise IncompleteHold(report, token, stale, incomplete)
        if stale:
            stale_ids = {old.id for old in stale}
            db.session.execute(
                update(HeldItem)
                .where(HeldItem.request_id.in_(stale_ids), HeldItem.active.is_(True))
                .values(active=False)
            )
            request_of = {k: rid for k, rid in request_of.items() if rid not in stale_ids}
            new_items = [item for item in report.items if item["key"] not in request_of]
        request = _new_request(repo, report, new_items, token, actor)
        keys_of, approvers_of = _stale_details(stale)
        for old in stale:
            _supersede(
                old,
                request,
                actor,
                keys_of.get(old.id, []),
                approvers_of.get(old.id, []),
                sorted(key for key, rid in changed.items() if rid == old.id),
            )
        request_of.update((item["key"], request.id) for item in new_items)
        created[request.id] = request  # already in hand, with no decisions
    requests = {**_load_requests(set(request_of.values()) - set(created)), **created}
    answer_items = [
        wire.answer_item(
            key,
            _item_state(requests[request_of[key]]),
            request_of[key],
            # what the request approves: held now (the content sent), or earlier (its own)
            active[key][1] if key in active and active[key][0] == request_of[key] else sent[key],
        )
        for key in keys
    ]
    guards_of = {item["key"]: set(item["guards"]) for item in report.items}
    push = {
        "repository": repo.name,
        "ref": report.ref,
        "old": report.old,
        "new": report.new,
        "pusher": report.pusher,
        "guards": sorted(set().union(*guards_of.values())),
    }
    pauses = apply_pauses(answer_items, guards_of, push, actor, report.policy_sha256)
    if all(item["state"] == "approved" for item in answer_items):
        audit.append(
            "push.allowed",
            actor=actor,
            subject={**push, "keys": keys, "requests": sorted(requests)},
            policy_sha256=report.policy_sha256,
        )
    ordered = [requests[rid] for rid in dict.fromkeys(request_of[key] for key in keys)]
    # Progress counts eligible approvers only: with no approvals the rules change nothing.
    rules = eligibility_rules() if any(r.decisions for r in ordered) else {}
    return wire.hold_answer(answer_items, [request_summary(r, rules) for r in ordered], pauses)


class IncompleteHold(Conflict):
    """A hold that would supersede requests while some of its content was not sent.

    What the server could not verify must not throw away approvals given on what it could:
    the old requests stand, the hold is refused (HTTP 409), and the refusal is audited
    (``hold.incomplete_refused``, in a transaction of its own: see gate.server.api)."""

    code = HOLD_INCOMPLETE

    def __init__(
        self,
        report: HoldReport,
        token: HookToken,
        kept: list[ApprovalRequest],
        unsent: dict[str, list[str]],
    ) -> None:
        paths = sorted({path for paths in unsent.values() for path in paths})
        shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        named = ", ".join(f"{old.id} ({old.state})" for old in kept)
        which = f"request {named} keeps its" if len(kept) == 1 else f"requests {named} keep their"
        super().__init__(
            f"{which} approvals: this push would replace it, but the hook did not send the "
            f"content of {shown}, and a hold the server cannot check never replaces a request"
        )
        self.token_id = token.id
        self.kept = [old.id for old in kept]
        self.subject: dict[str, Any] = {
            "repository": report.repository,
            "ref": report.ref,
            "old": report.old,
            "new": report.new,
            "pusher": report.pusher,
            "host": token.host,
            "kept": self.kept,
            # at most 100 commits' paths, 100 each: the record stays small for a huge push
            "unsent": {key: paths[:100] for key, paths in sorted(unsent.items())[:100]},
            "unsent_commits": len(unsent),
        }
        self.policy_sha256 = report.policy_sha256


def note_incomplete_hold(refused: IncompleteHold) -> None:
    """Audit a refused incomplete hold, with the requests it left standing and their
    approvals. The caller commits (in a transaction of its own: the hold's was rolled back)."""
    token = db.session.get(HookToken, refused.token_id)  # tokens are revoked, never deleted
    assert token is not None
    kept = list(
        db.session.scalars(
            select(ApprovalRequest)
            .where(ApprovalRequest.id.in_(refused.kept))
            .order_by(ApprovalRequest.id)
        )
    )
    _, approvers_of = _stale_details(kept)
    audit.append(
        "hold.incomplete_refused",
        actor=Actor.token(token),
        subject={
            **refused.subject,
            "approvals_kept": {str(old.id): approvers_of.get(old.id, []) for old in kept},
        },
        policy_sha256=refused.policy_sha256,
    )


def _operator_fields(item: dict[str, Any], agent_owner: str | None) -> dict[str, Any]:
    """Who operates the agent behind an item, for the audit record (the verifier's "operator")."""
    from gate.server.services.decisions import trailer_operators

    found = trailer_operators(item["commit"]["trailers"] if item["kind"] == "commit" else [])
    for owner in [agent_owner or "", *item.get("agent_owners", [])]:
        if owner and owner.lower() not in found:
            found.append(owner.lower())
    return {"operator": found[0], "operators": found} if found else {}


def _first_pushers_owners(report: HoldReport, items: list[dict[str, Any]]) -> None:
    """Name, on each held commit the host remembers an agent account pushing first, the humans
    who operate that account: the policy's ``[agents.owners]`` entry the hook sent, and the
    operator of the server's agent account of that name. They stand to the commit as the
    pusher's owner does (decisions.operators), so they cannot approve it either."""
    names = {item["first_pushed_by"] for item in items if "first_pushed_by" in item}
    if not names:
        return
    accounts = db.session.scalars(
        select(User)
        .where(User.username.in_(sorted(names)), User.role == AGENT_ROLE)
        .options(joinedload(User.operator))
    )
    owners: dict[str, set[str]] = {name: set() for name in names}
    for account in accounts:
        if account.operator is not None:
            owners[account.username].add(account.operator.email.lower())
    for name in names:
        if report.owners.get(name):
            owners[name].add(report.owners[name].lower())
    for item in items:
        if "first_pushed_by" in item:
            item["agent_owners"] = sorted(owners[item["first_pushed_by"]])


def _supersedable(repo: Repository, report: HoldReport, host: str | None) -> list[ApprovalRequest]:
    """The same known pusher's pending requests for the same ref, recorded by the same git host
    (unknown pushers, or a token with no host: none). A pusher's name is what one host's
    authentication says: another host's token naming the same pusher is not that pusher."""
    if not report.pusher or not host:
        return []
    return list(
        db.session.scalars(
            select(ApprovalRequest)
            .where(
                ApprovalRequest.repository_id == repo.id,
                ApprovalRequest.ref == report.ref,
                ApprovalRequest.pusher == report.pusher,
                ApprovalRequest.host == host,
                ApprovalRequest.state == "pending",
            )
            .order_by(ApprovalRequest.id)
            .with_for_update()
        )
    )


def _with_changed_content(stale: list[ApprovalRequest], changed: set[int]) -> list[ApprovalRequest]:
    """``stale`` and the requests in ``changed`` (they hold a pushed commit with other
    content), locked, in id order."""
    missing = changed - {old.id for old in stale}
    if missing:
        stale = stale + list(
            db.session.scalars(
                select(ApprovalRequest)
                .where(ApprovalRequest.id.in_(missing))
                .order_by(ApprovalRequest.id)
                .with_for_update()
            )
        )
    return sorted(stale, key=lambda old: old.id)


def _stale_details(
    stale: list[ApprovalRequest],
) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    """Per superseded request: its items' keys, and the usernames of its standing approvals
    (in decision order), read as columns: not the items' diffs, not whole decisions."""
    keys_of: dict[int, list[str]] = {}
    approvers_of: dict[int, list[str]] = {}
    if not stale:
        return keys_of, approvers_of
    ids = [old.id for old in stale]
    for request_id, key in db.session.execute(
        select(HeldItem.request_id, HeldItem.key)
        .where(HeldItem.request_id.in_(ids))
        .order_by(HeldItem.id)
    ):
        keys_of.setdefault(request_id, []).append(key)
    for request_id, username in db.session.execute(
        select(Decision.request_id, User.username)
        .join(User, User.id == Decision.reviewer_id)
        .where(
            Decision.request_id.in_(ids),
            Decision.verdict == "approve",
            Decision.withdrawn_at.is_(None),
        )
        .order_by(Decision.id)
    ):
        approvers_of.setdefault(request_id, []).append(username)
    return keys_of, approvers_of


def _supersede(
    old: ApprovalRequest,
    new: ApprovalRequest,
    actor: Actor,
    keys: list[str],
    approved: list[str],
    content_changed: list[str],
) -> None:
    old.state = "superseded"
    old.superseded_by_id = new.id
    old.decided_at = datetime.now(UTC)
    audit.append(
        "request.superseded",
        actor=actor,
        subject={
            "request": old.id,
            "superseded_by": new.id,
            "repository": old.repository.name,
            "ref": old.ref,
            "pusher": old.pusher,
            "host": old.host,
            "keys": keys,
            "approvals_discarded": approved,
            **({"content_changed": content_changed} if content_changed else {}),
        },
        policy_sha256=old.policy_sha256,
    )
    notify.enqueue("request.superseded", old, extra={"superseded_by": new.id})


def _active_requests(repository_id: int, keys: list[str]) -> dict[str, tuple[int, str | None, str]]:
    """key -> (request id, content SHA-256, request state) of the active held items among
    ``keys`` (only those columns)."""
    found: dict[str, tuple[int, str | None, str]] = {}
    for start in range(0, len(keys), KEY_CHUNK):
        rows = db.session.execute(
            select(
                HeldItem.key, HeldItem.request_id, HeldItem.content_sha256, ApprovalRequest.state
            )
            .join(ApprovalRequest, ApprovalRequest.id == HeldItem.request_id)
            .where(
                HeldItem.repository_id == repository_id,
                HeldItem.active.is_(True),
                HeldItem.key.in_(keys[start : start + KEY_CHUNK]),
            )
        )
        found.update(
            (key, (request_id, content, state)) for key, request_id, content, state in rows
        )
    return found


def _same_content(
    active: dict[str, tuple[int, str | None, str]], sent: dict[str, str | None]
) -> dict[str, int]:
    """key -> request id of the active items that hold what was sent: the same content hash
    (ref changes have none), or a denied request (a denial keeps refusing whatever is sent)."""
    return {
        key: request_id
        for key, (request_id, content, state) in active.items()
        if content == sent[key] or state == "denied"
    }


def _load_requests(ids: set[int]) -> dict[int, ApprovalRequest]:
    """The requests with what request_summary reads, loaded up front (no lazy load per item)."""
    if not ids:
        return {}
    rows = db.session.scalars(
        select(ApprovalRequest)
        .where(ApprovalRequest.id.in_(ids))
        .options(
            joinedload(ApprovalRequest.repository),
            # Joined, not selectin: one round trip (a push's requests have few decisions).
            joinedload(ApprovalRequest.decisions).joinedload(Decision.reviewer),
        )
    ).unique()
    return {request.id: request for request in rows}


def _item_state(request: ApprovalRequest) -> str:
    return {"approved": "approved", "denied": "denied"}.get(request.state, "pending")


def repository_named(name: str) -> Repository:
    """The repository of that name, created when the server first hears of it.

    Looked for again under the audit lock before creating it: another writer may have created
    it while this one waited for the lock, and a second insert of the name would fail."""
    repo = db.session.scalar(select(Repository).where(Repository.name == name))
    if repo is None:
        audit.lock()
        repo = db.session.scalar(select(Repository).where(Repository.name == name))
    if repo is None:
        repo = Repository(name=name)
        db.session.add(repo)
        db.session.flush()
    return repo


_POLICIES_SEEN = "gate.policies_seen"


def _note_policy(report: HoldReport, actor: Actor) -> None:
    """Record ``policy.seen`` the first time a policy hash reaches the server.

    A policy found in the audit log stays there (the log is append-only: no update or delete
    reaches it), so the hashes found are remembered per application and not looked up again.
    Only hashes read back from the database are remembered, never one this transaction is
    appending (it could still roll back).
    """
    from gate.server.models import AuditRecord

    known: set[str] = current_app.extensions.setdefault(_POLICIES_SEEN, set())
    if report.policy_sha256 in known:
        return
    seen = db.session.scalar(
        select(AuditRecord.seq)
        .where(
            AuditRecord.action == "policy.seen", AuditRecord.policy_sha256 == report.policy_sha256
        )
        .limit(1)
    )
    if seen is not None:
        if len(known) >= 10_000:
            known.clear()
        known.add(report.policy_sha256)
        return
    if seen is None:
        audit.append(
            "policy.seen",
            actor=actor,
            subject={"repository": report.repository, "approvals": report.approvals},
            policy_sha256=report.policy_sha256,
        )


def clipped(text: str, size: int) -> str:
    """``text`` cut to fit a column of ``size`` characters, the cut marked with an ellipsis (the
    whole text stays in the item's ``meta``)."""
    return text if len(text) <= size else text[: size - 1] + "\u2026"


def _new_request(
    repo: Repository,
    report: HoldReport,
    items: list[dict[str, Any]],
    token: HookToken,
    actor: Actor,
) -> ApprovalRequest:
    guards = sorted({name for item in items for name in item["guards"]})
    required = {name: max(1, int(report.approvals.get(name, 1))) for name in guards}
    methods = {
        name: report.approval_methods[name] for name in guards if name in report.approval_methods
    }
    _first_pushers_owners(report, items)
    audit.lock()  # before the inserts: see audit.lock
    request = ApprovalRequest(
        repository_id=repo.id,
        ref=report.ref,
        pusher=report.pusher,
        old=report.old,
        new=report.new,
        state="pending",
        required=required,
        policy_sha256=report.policy_sha256,
        token_id=token.id,
        host=token.host,
        agent_owner=report.owners.get(report.pusher) if report.pusher else None,
        approval_methods=methods or None,
    )
    db.session.add(request)
    db.session.flush()
    set_committed_value(request, "decisions", [])  # a new request has none: no query for them
    agents = {s["agent"] for item in items for s in item["signals"] if s.get("agent")}
    facets = [
        {"request_id": request.id, "kind": kind, "value": value[:200]}
        for kind, values in (("guard", guards), ("agent", sorted(agents)))
        for value in values
    ]
    if facets:
        db.session.execute(insert(RequestFacet), facets)
    rows = []
    for item in items:
        commit = item.get("commit")
        author = commit["author"] if commit else {"name": "", "email": ""}
        committer = commit["committer"] if commit else {"name": "", "email": ""}
        message = commit["message"] if commit else item["reason"]
        rows.append(
            {
                "request_id": request.id,
                "repository_id": repo.id,
                "key": item["key"],
                "kind": item["kind"],
                "active": True,
                "author_name": clipped(author["name"], NAME_LEN),
                "author_email": clipped(author["email"], EMAIL_LEN),
                "committer_name": clipped(committer["name"], NAME_LEN),
                "committer_email": clipped(committer["email"], EMAIL_LEN),
                "summary": message.split("\n", 1)[0][:500],
                "message": message,
                "meta": {
                    k: v
                    for k, v in item.items()
                    if k in ("commit", "reason", "removed", "first_pushed_by", "agent_owners")
                },
                "signals": item["signals"],
                "guards": item["guards"],
                "diffs": item["diffs"],
                "diff_sha256": item["diff_sha256"],
                "content_sha256": item["content_sha256"],
                "patch_id": item.get("patch_id"),
            }
        )
    db.session.execute(insert(HeldItem), rows)
    blobs: dict[str, bytes] = {}
    for item in items:
        blobs.update(item.get("blobs", {}))
    if blobs:
        db.session.execute(
            insert(HeldBlob),
            [{"request_id": request.id, "oid": oid, "data": data} for oid, data in blobs.items()],
        )
    audit.append(
        "request.held",
        actor=actor,
        subject={
            "request": request.id,
            "repository": repo.name,
            "ref": report.ref,
            "old": report.old,
            "new": report.new,
            "pusher": report.pusher,
            "host": token.host,
            "required": required,
            **({"approval_methods": methods} if methods else {}),
            "agent_owner": request.agent_owner,
            "items": [
                {
                    "key": item["key"],
                    "kind": item["kind"],
                    "author": item["commit"]["author"]["email"] if "commit" in item else None,
                    "committer": item["commit"]["committer"]["email"] if "commit" in item else None,
                    "guards": item["guards"],
                    "signals": item["signals"],
                    "diff_sha256": item["diff_sha256"],
                    "content_sha256": item["content_sha256"],
                    **_operator_fields(item, request.agent_owner),
                }
                for item in items
            ],
        },
        policy_sha256=report.policy_sha256,
    )
    notify.enqueue("request.held", request)
    mail.enqueue_mail("request.held", request)
    return request
