"""The reviewers' web interface."""
