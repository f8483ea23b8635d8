"""The git host's side of gate: the hooks, their settings, the policy, and reading commits.

Runs inside git's pre-receive and post-receive hooks, with no database and no web framework:
nothing under gate.git imports flask, sqlalchemy, werkzeug, wtforms or gate.server (a test
enforces it). Importing this package must stay free: the hook's first stage counts every module.
"""
