"""swsctl: the command-line client a user runs on a laptop to drive a remote SWS host."""
