"""The swsctl commands, one module per concern; swsctl.cli registers them on the group."""
