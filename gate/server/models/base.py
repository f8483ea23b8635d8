"""The class every table derives from."""

from typing import TYPE_CHECKING

from gate.server.extensions import Base, db

# Flask-SQLAlchemy builds db.Model at run time from Base (same registry and metadata), so a type
# checker cannot see it as a class; Base is the declarative base it is made from.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model

__all__ = ["Model"]
