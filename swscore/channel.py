"""The store's change channel: what the apiserver and the agent agree on besides the tables.

Every change to a service sends NOTIFY on this channel inside the transaction that makes it
(the apiserver's store.py; `sws-agent certs` for a new certificate), and `sws-agent watch`
LISTENs on it and starts a pass at once. Kept apart from either side's code so both import the
one name.
"""

NOTIFY_CHANNEL = "sws_services"
