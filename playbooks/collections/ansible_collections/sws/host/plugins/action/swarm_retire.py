"""Action plugin: remove a service's older generations from the swarm
(module_utils/swarmgeneration.py retire: the generation's service; its tasks stop on their
nodes meanwhile, the pass does not wait for them, so a task slow to stop holds nobody's next
apply; but for a volume's task, which a deploy of the service again must never find still
running on the volume), the swarm executor's retire (issue 28).

Only services labelled as this service's (<prefix>.service) go: a name the agent gives for
another is refused, never removed. Returns gone (removed now) and absent (none of that name).
With remove_overlays (a deleted service), its own overlays go too (networks_removed): those
its stopping tasks still hold go in a later pass (the agent's sweep of idle overlays).
With purge_volume (a service deleted with purge), its volume is emptied on volume_node once
its last task is gone (module_utils/swarmpurge.py): volume_removed says it was.
"""

from __future__ import annotations

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible_collections.sws.host.plugins.module_utils import swarmgeneration as generations
from ansible_collections.sws.host.plugins.module_utils import swarmpurge, swarmtasks
from ansible_collections.sws.host.plugins.module_utils.engine import Engine, EngineError
from ansible_collections.sws.host.plugins.module_utils.swarmspec import volume_name

# Beyond the tasks' stop timeout, for a volume's task: the node removes the stopped container.
RETIRE_MARGIN = 30


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        engine = Engine(str(args.get("manager_socket") or "") or None)
        service, prefix = str(args["service"]), str(args["label_prefix"])
        timeout = int(args["stop_timeout"]) + RETIRE_MARGIN
        gone, absent, problems = [], [], []
        held = self._held(engine, str(args.get("volume_node") or ""))
        for name in [str(s) for s in args.get("services") or []]:
            try:
                found = generations.service(engine, name)
                labels = (found or {}).get("Spec", {}).get("Labels") or {}
                if found is None:
                    absent.append(name)
                elif labels.get(f"{prefix}.service") != service:
                    problems.append(f"{name} is not a generation of service {service}")
                elif generations.holds_volume(found) and held:
                    problems.append(f"{name}: {held}; it goes once the node is back")
                elif generations.retire(
                    engine, name, timeout, wait=generations.holds_volume(found)
                ):
                    gone.append(name)
                else:
                    absent.append(name)
            except (generations.GenerationFailed, EngineError) as err:
                problems.append(f"{name}: {err}")
        networks = []
        if not problems and boolean(args.get("remove_overlays", False), strict=False):
            try:
                networks = generations.remove_overlays(engine, service, prefix)
            except EngineError as err:
                problems.append(f"the overlays of {service}: {err}")
        purged = False
        if not problems and args.get("purge_volume"):
            try:
                purged = self._purge(engine, args, prefix, timeout)
            except (swarmpurge.PurgeFailed, EngineError) as err:
                problems.append(str(err))
        result.update(
            gone=gone,
            absent=absent,
            networks_removed=networks,
            volume_removed=purged,
            changed=bool(gone or networks or purged),
        )
        if problems:
            result.update(failed=True, msg="; ".join(problems)[:500])
        return result

    @staticmethod
    def _purge(engine: Engine, args: dict, prefix: str, timeout: float) -> bool:
        """Empty the volume on its node; a volume no task ever ran on has no node: nothing."""
        node = str(args.get("volume_node") or "")
        if not node:
            return True
        volume = volume_name(str(args["purge_volume"]), str(args["owner"]))
        swarmpurge.purge(engine, volume, node, str(args["probe_image"]), prefix, timeout)
        return True

    @staticmethod
    def _held(engine: Engine, node: str) -> str | None:
        """Why a volume's generation stays for now: its node is down. Its retire would wait
        for a task that cannot end while the node is (every pass waiting its timeout), and
        removed meanwhile the node could start a new generation on the volume when it comes
        back before it has stopped the old one: so it is left, and goes once the node is."""
        if not node:
            return None
        return swarmtasks.unreachable(engine.call("GET", "/nodes"), node)
