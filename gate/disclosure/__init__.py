"""Disclosure: how much of the guarded code agents write, computed from audit records alone
(``compute``) and rendered as JSON, CSV or HTML (``render``)."""
