"""sws-agent: the reconcile loop that turns what sws-confdb holds into containers and routes.

Stages are kept apart: desired (read the store) -> plan (compare with what runs) -> render
(pure text and variables) -> runner (ansible-runner, the only module that imports it) ->
record (write outcomes back to the store). reconcile.py ties one pass together.
"""
