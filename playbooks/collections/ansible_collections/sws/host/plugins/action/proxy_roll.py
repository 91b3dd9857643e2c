"""Action plugin: roll one proxy to this pass's routes in one task (module_utils/proxyroll.py).

Runs on the controller (every host is this machine): it reads which new containers got ready
from the service hosts' registered readiness, picks each service's block, and rolls the proxy
only when that differs from what it serves or when HAProxy does not have it `ready`: drain
(per sws.yml's sws_roll_drain), write + test + reload in one exec, wait for health, ready again.
A refused or failed roll leaves the last good routes live and the proxy back in HAProxy, and
fails the host.
"""

from __future__ import annotations

import os

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible_collections.sws.host.plugins.module_utils import haproxy, proxyroll


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        proxy = args["proxy"]
        deployed = args.get("deployed") or []
        addresses = _ready_addresses(task_vars or {}, deployed)
        restarted = _ready_addresses(task_vars or {}, deployed, "fallback_address")
        text = proxyroll.candidate(
            args["routes"], args["header"], args["slot"], addresses, restarted
        )
        result["addresses"] = addresses
        ready = boolean(args.get("ready") or False, strict=False)
        if proxyroll.digest(text) == str(args.get("applied_digest") or "").strip() and ready:
            result.update(changed=False, rolled=False)
            return result
        sock, backend = args["haproxy_socket"], args["haproxy_backend"]
        mode = args["drain"]
        if mode not in proxyroll.DRAIN_MODES:
            why = f"sws_roll_drain must be one of {', '.join(proxyroll.DRAIN_MODES)}, not {mode!r}"
            return {**result, "failed": True, "msg": why}
        try:
            # Draining the only proxy that is up would leave HAProxy with no server at all;
            # nginx's graceful reload alone finishes what is in flight, so roll it undrained.
            alone = mode == "drain" and not _another_up(sock, backend, proxy)
            if alone:
                result["drain_skipped"] = "no other proxy is up"
            if mode == "drain" and not alone:
                haproxy.set_state(sock, backend, proxy, "drain")
                result["sessions_left"], result["drained"] = haproxy.wait_for_no_sessions(
                    sock, backend, proxy, float(args["drain_timeout"])
                )
            proxyroll.write_and_reload(proxy, text, args["conf_dir"])
            health = os.path.join(args["socket_dir"], proxy, args["health_socket"])
            result["health_waited"] = proxyroll.healthy(health)
        except proxyroll.RollError as err:
            result.update(failed=True, msg=str(err))
        except (OSError, ValueError) as err:
            result.update(failed=True, msg=f"HAProxy on {sock}: {err}")
        finally:
            try:
                haproxy.set_state(sock, backend, proxy, "ready")
            except (OSError, ValueError) as err:
                if not result.get("failed"):
                    result.update(failed=True, msg=f"HAProxy on {sock}: {err}")
        result.update(changed=True, rolled=not result.get("failed"))
        if result["rolled"]:
            # What it serves now: a later roll in the same run compares with this.
            result["applied_digest"] = proxyroll.digest(text)
        return result


def _another_up(sock, backend: str, proxy: str) -> bool:
    """Whether HAProxy sends traffic to a proxy other than this one (UP, not drained)."""
    rows = haproxy.stats(sock, backend)
    return any(
        (row.get("status") or "").startswith("UP") for name, row in rows.items() if name != proxy
    )


def _ready_addresses(
    task_vars: dict, hosts: list[str], key: str = "address"
) -> dict[str, list[str]]:
    """{service host: its new containers' addresses, one a replica in replica order} for the
    hosts whose deploy got ready; with key fallback_address: the older container a failed
    recreate started again."""
    hostvars = task_vars.get("hostvars") or {}
    found = {}
    for host in hosts:
        if host not in hostvars:
            continue
        readiness = hostvars[host].get("sws_service_readiness") or {}
        if not hasattr(readiness, "get"):
            continue
        address = readiness.get(key)
        if address and (key != "address" or not readiness.get("failed")):
            many = readiness.get("addresses") if key == "address" else None
            found[host] = [str(a) for a in many] if many else [str(address)]
    return found
