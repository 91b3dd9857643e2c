"""The agent's view of a Docker Swarm (issue 28): the nodes that joined the manager, what each
one reports of its free memory and disk, and which SWS services run where. Nothing here runs
unless agent.yml has a `swarm` section; a single host pays nothing."""
