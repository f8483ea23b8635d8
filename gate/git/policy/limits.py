"""Bounds a policy must keep so that the server can record every push it holds.

One definition for both sides: ``gate policy check`` refuses a policy beyond them, and the
server refuses hold reports beyond them (gate/server/api.py, gate/server/services/groups.py,
gate/server/web/forms.py and the column sizes in gate/server/models). Standard library only:
the server may import this module without pulling in the hook.
"""

MAX_APPROVALS = 100  # distinct reviewers one guard may require
MAX_GUARD_NAME = 200  # characters: request facets and guard-to-group rules store the name
MAX_PUSHER_NAME = 200  # characters of a pusher name, as in [agents.owners]
MAX_EMAIL = 320  # characters of an email address (RFC 5321), as in [agents.owners]
