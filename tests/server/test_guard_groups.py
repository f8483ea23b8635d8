"""Reviewer groups per guard: a guard name no policy gate has seen is refused, with the names
it has seen, unless the admin says the policy has not been pushed yet."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gate.server.database import command
from gate.server.extensions import db
from gate.server.models import AuditRecord
from gate.server.services import ServiceError
from gate.server.services.actor import Actor
from gate.server.services.groups import add_group, guard_rules, set_guard_groups
from tests.support.auditlog import build_history

ADMIN = Actor.cli("root")


def test_before_any_policy_only_a_guard_not_pushed_yet_is_accepted(app) -> None:  # type: ignore[no-untyped-def]
    with command(app):
        group = add_group("leads", actor=ADMIN)
        with pytest.raises(ServiceError, match="gate has not seen any policy yet"):
            set_guard_groups("training", [group.id], actor=ADMIN)
        set_guard_groups("training", [group.id], actor=ADMIN, not_pushed_yet=True)
    with app.app_context():
        assert [g.name for g in guard_rules()["training"]] == ["leads"]
        record = db.session.scalars(
            select(AuditRecord).where(AuditRecord.action == "guard.groups_set")
        ).one()
        assert record.subject == {"guard": "training", "groups": ["leads"], "seen": False}


def test_a_typo_is_refused_with_the_guards_gate_has_seen(app) -> None:  # type: ignore[no-untyped-def]
    build_history(app)  # holds for the guards "train" and "model"
    with command(app):
        group = add_group("leads", actor=ADMIN)
        with pytest.raises(ServiceError) as refused:
            set_guard_groups("trian", [group.id], actor=ADMIN)
        assert str(refused.value).startswith(
            "no policy gate has seen has a guard named 'trian' (did you mean 'train'?). "
            "Guards gate has seen: model, train."
        )
        set_guard_groups("train", [group.id], actor=ADMIN)
        set_guard_groups("an old guard", [], actor=ADMIN)  # clearing needs no known name
    with app.app_context():
        assert list(guard_rules()) == ["train"]
