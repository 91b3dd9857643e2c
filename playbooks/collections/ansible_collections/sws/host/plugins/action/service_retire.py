"""Action plugin: take a service's containers (and a purged volume) away without waiting for
any stop (module_utils/retire.py): what is stopped goes now, what runs is stopped and removed by
a child process that outlives the run. Runs on the controller (every host is this machine).

Returns gone (removed now), stopped (orphans kept stopped), background (left to the child),
volume_removed, and fails only for what the engine refused now.
"""

from __future__ import annotations

from dataclasses import asdict

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible_collections.sws.host.plugins.module_utils.engine import Engine
from ansible_collections.sws.host.plugins.module_utils.retire import (
    RetireJob,
    launch,
    retire_now,
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        job = RetireJob(
            service=str(args["service"]),
            containers=[str(c) for c in args.get("containers") or []],
            stop_timeout=int(args["stop_timeout"]),
            stop_only=boolean(args.get("stop_only") or False, strict=False),
            purge_volume=str(args.get("purge_volume") or ""),
            label_prefix=str(args["label_prefix"]),
            kill=boolean(args.get("kill") or False, strict=False),
            slots_dir=str(args.get("slots_dir") or ""),
            slots=int(args.get("slots") or 4),
        )
        outcome = retire_now(Engine(), job)
        if outcome.background:
            result["pid"] = launch(job, outcome.background)
        result.update(asdict(outcome))
        result["changed"] = bool(outcome.gone or outcome.stopped or outcome.background)
        if outcome.problems:
            result.update(failed=True, msg="; ".join(outcome.problems)[:500])
        return result
