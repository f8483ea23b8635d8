"""Bounds a policy must keep so that the server can record every push it holds.

One definition for both sides: the numbers are gate.wire's, the hook<->server contract the
server enforces on every hold report; ``gate policy check`` refuses a policy beyond them.
"""

from gate.wire import EMAIL_LEN as MAX_EMAIL
from gate.wire import GUARD_LEN as MAX_GUARD_NAME
from gate.wire import MAX_APPROVALS
from gate.wire import PUSHER_LEN as MAX_PUSHER_NAME

__all__ = ["MAX_APPROVALS", "MAX_EMAIL", "MAX_GUARD_NAME", "MAX_PUSHER_NAME"]
