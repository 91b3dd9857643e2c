"""What the apiserver, the agent and swsctl share, with no framework: the v1 spec, key sealing,
certificate checks, the store's notify channel, database URLs and call deadlines."""
