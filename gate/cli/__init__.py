"""The ``gate`` command line: one module per command group, one error edge (gate.cli.main)."""
