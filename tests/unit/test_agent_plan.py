"""plan.py: what a pass decides from the desired services and the containers that run."""

from __future__ import annotations

from dataclasses import replace

from swsagent.collection import haproxy as runtime
from swsagent.desired import desired_from_row
from swsagent.observe import RunningContainer, container_from_inspect
from swsagent.plan import (
    choose_serving,
    drop_shared_domains,
    plan_cleanup,
    plan_deploys,
    routes_for,
    share_deploys,
)
from swsagent.render import routes_conf
from tests.fixtures.contract import repo_names


def service(name, generation=1, status="pending", applied=0, digest=None, purge=False):
    spec = {"name": name, "port": 8080, "domain": f"{name}.test", "image": "img:1", "env": []}
    return desired_from_row(
        name, f"{name}.test", spec, digest or f"d{generation}", generation, applied, status, purge
    )


def container(name, generation=1, running=True, ip="10.0.0.2", digest=None):
    return RunningContainer(
        name=f"sws-svc-{name}-{generation}",
        service=name,
        generation=generation,
        digest=digest or f"d{generation}",
        domain=f"{name}.test",
        port=8080,
        running=running,
        ip=ip if running else None,
    )


def test_running_and_recorded_needs_nothing():
    plan = plan_deploys([service("a", status="running", applied=1)], [container("a")])
    assert plan.deploy == []


def test_pending_missing_stopped_or_unrecorded_are_deployed():
    desired = [
        service("new"),
        service("stopped", status="running", applied=1),
        service("unrecorded", status="pending", applied=0),
    ]
    running = [container("stopped", running=False), container("unrecorded")]
    assert [s.name for s in plan_deploys(desired, running).deploy] == [
        "new",
        "stopped",
        "unrecorded",
    ]


def test_a_failure_is_not_retried_until_a_new_generation():
    assert plan_deploys([service("a", status="failed")], []).deploy == []


def test_deleting_services_are_never_deployed():
    assert plan_deploys([service("a", status="deleting")], []).deploy == []


def test_invalid_stored_spec_is_reported_once():
    bad = desired_from_row("a", "a.test", {"name": "a"}, "d", 1, 0, "pending")
    assert plan_deploys([bad], []).invalid == [bad]
    failed = desired_from_row("a", "a.test", {"name": "a"}, "d", 1, 0, "failed")
    assert plan_deploys([failed], []).invalid == []


def test_new_generation_serves_only_once_ready():
    desired = [service("a", generation=2, status="pending", applied=1)]
    running = [container("a", 1, ip="10.0.0.1"), container("a", 2, ip="10.0.0.2")]
    assert choose_serving(desired, running, ready=set())["a"].generation == 1
    assert choose_serving(desired, running, ready={"a"})["a"].generation == 2


def test_routes_follow_the_serving_container_address():
    desired = [service("a", status="running", applied=1)]
    routes = routes_for(choose_serving(desired, [container("a", ip="10.0.0.9")], set()))
    assert [(r.domain, r.address, r.port) for r in routes] == [("a.test", "10.0.0.9", 8080)]


def test_cleanup_retires_old_generations_removes_deleted_and_orphans():
    desired = [
        service("a", generation=2, status="running", applied=2),
        service("gone", status="deleting"),
    ]
    running = [container("a", 1), container("a", 2), container("gone"), container("ghost")]
    serving = choose_serving(desired, running, set())
    plan = plan_cleanup(desired, running, serving, failed=set())
    assert plan.retire == {"a": "sws-svc-a-2"}
    assert plan.remove == ["gone"] and plan.forget == ["gone"]
    assert plan.orphans == ["ghost"]
    # The retire play removes exactly what the agent observed, never the container kept.
    assert plan.containers == {
        "a": ["sws-svc-a-1"],
        "gone": ["sws-svc-gone-1"],
        "ghost": ["sws-svc-ghost-1"],
    }


def test_a_plain_delete_purges_nothing():
    desired = [service("gone", status="deleting")]
    plan = plan_cleanup(desired, [container("gone")], {}, failed=set())
    assert plan.purge == [] and plan.services() == ["gone"]


def test_a_purged_delete_puts_the_volume_in_the_plan_with_or_without_containers():
    desired = [
        service("gone", status="deleting", purge=True),
        service("bare", status="deleting", purge=True),  # its containers went in a past pass
        service("kept", status="running", applied=1, purge=True),  # only a delete purges
    ]
    running = [container("gone"), container("kept")]
    plan = plan_cleanup(desired, running, choose_serving(desired, running, set()), failed=set())
    assert plan.remove == ["gone"]
    assert plan.purge == ["gone", "bare"]
    assert plan.forget == ["gone", "bare"]
    assert plan.services() == ["gone", "bare"]


def test_desired_reads_the_purge_flag():
    assert service("a", status="deleting", purge=True).purge_volume is True
    assert service("a", status="deleting").purge_volume is False


def test_nothing_is_retired_for_a_service_whose_deploy_failed():
    desired = [service("a", generation=2, status="pending", applied=1)]
    running = [container("a", 1), container("a", 2)]
    serving = choose_serving(desired, running, set())
    assert plan_cleanup(desired, running, serving, failed={"a"}).retire == {}


def test_container_from_inspect_reads_labels_state_and_address():
    detail = {
        "Name": "/sws-svc-a-3",
        "Config": {
            "Labels": {
                "sws.service": "a",
                "sws.generation": "3",
                "sws.spec-digest": "x",
                "sws.domain": "a.test",
                "sws.port": "81",
                "sws.containment": "c0ffee",
            }
        },
        "State": {"Running": True, "Restarting": False, "ExitCode": 0},
        "NetworkSettings": {"Networks": {"sws-services": {"IPAddress": "172.30.0.4"}}},
    }
    c = container_from_inspect(detail, "sws-services")
    assert (c.name, c.generation, c.port, c.ip, c.running) == (
        "sws-svc-a-3",
        3,
        81,
        "172.30.0.4",
        True,
    )
    assert (c.digest, c.containment) == ("x", "c0ffee")
    assert container_from_inspect({"Config": {"Labels": {}}}, "sws-services") is None


def test_a_container_from_before_containment_has_no_digest_so_it_is_deployed_again():
    labels = {"sws.service": "a", "sws.generation": "1", "sws.spec-digest": "x"}
    detail = {"Name": "/sws-svc-a-1", "Config": {"Labels": labels}, "State": {"Running": True}}
    legacy = container_from_inspect(detail, "sws-services")
    assert (legacy.digest, legacy.containment) == ("", "")


def test_haproxy_server_states():
    text = """1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight
3 proxies 1 sws-proxy-1 172.21.0.3 2 0 1
3 proxies 2 sws-proxy-2 172.21.0.4 2 8 1
3 proxies 3 sws-proxy-3 172.21.0.5 0 1 1
"""
    assert runtime().parse_admin_states(text) == {
        "sws-proxy-1": "ready",
        "sws-proxy-2": "drain",
        "sws-proxy-3": "maint",
    }


def test_nginx_s_emerg_line_is_kept_without_time_pid_or_scratch_file():
    from swsagent.routecheck import emerg_line

    line = 'nginx: [emerg] unknown directive "bogus" in /tmp/sws-routecheck.AbC123/main.conf:7'
    assert emerg_line(line) == '[emerg] unknown directive "bogus"'
    stamped = (
        "2026/11/27 05:17:28 [emerg] 1#1: could not build server_names_hash, you should "
        "increase server_names_hash_bucket_size: 64"
    )
    assert emerg_line(stamped).startswith("[emerg] could not build server_names_hash, you")


def test_orphans_are_kept_when_they_are_most_of_what_runs():
    from swsagent.plan import CleanupPlan, hold_orphans

    def running(name):
        return RunningContainer(
            f"sws-svc-{name}-1", name, 1, "d", f"{name}.t", 80, True, "10.0.0.2"
        )

    containers = [running(n) for n in ("a", "b", "c", "d")]
    plan = CleanupPlan(orphans=["a", "b", "c", "d"])  # an empty store read
    reason = hold_orphans(plan, containers, 0.5)
    assert plan.orphans == [] and "removing 4 of the 4 running services" in reason
    plan = CleanupPlan(orphans=["a"])
    assert hold_orphans(plan, containers, 0.5) is None and plan.orphans == ["a"]


def test_a_failed_generation_is_retried_with_backoff_a_bounded_number_of_times(tmp_path):
    from swsagent import retries

    svc = service("web", generation=2, status="failed", applied=1)
    attempts: dict = {}
    notes = []
    now = 1000.0
    for _ in range(4):
        assert retries.due([svc], attempts, 3, now) == (set() if not attempts else {"web"})
        notes.append(retries.note_failure(attempts, "web", 2, 3, 30, now))
        now = attempts["web"].next_try
    assert notes[0] == "(attempt 1 of 4; next in 30 s)"
    assert notes[2] == "(attempt 3 of 4; next in 120 s)"
    assert notes[3] == "(attempt 4, the last: apply again to retry)"
    assert retries.due([svc], attempts, 3, now + 10_000) == set()
    retries.save(tmp_path, attempts)
    assert retries.load(tmp_path)["web"].failures == 4
    newer = service("web", generation=3, applied=1)
    retries.forget_others(attempts, set(), [newer])
    assert attempts == {}
    assert len(retries.with_note("x" * 400, notes[0])) <= 290


def test_a_failed_service_is_deployed_again_only_when_its_retry_is_due():
    failed = service("web", status="failed")
    assert plan_deploys([failed], [container("web")]).deploy == []
    assert plan_deploys([failed], [], retry={"web"}).deploy == [failed]


# --- fair share, containment, one domain one service (issue 11) ----------------------------
def owned(name, owner, updated, **kwargs):
    spec = {"name": name, "port": 8080, "domain": f"{name}.test", "image": "img:1", "env": []}
    return desired_from_row(
        name, f"{name}.test", spec, "d1", 1, 0, "pending", False, owner, False, updated
    )


def test_a_burst_of_one_user_leaves_room_for_another_users_apply():
    burst = [owned(f"a{i:02d}", "alice", updated=100 + i) for i in range(50)]
    bobs = owned("b", "bob", updated=500)  # applied after all of alice's
    plan = share_deploys(plan_deploys([*burst, bobs], []), per_user=5)
    deployed = [s.name for s in plan.deploy]
    assert "b" in deployed
    # alice's oldest five go first, the other 45 wait for the next passes, in order.
    assert sorted(n for n in deployed if n.startswith("a")) == [f"a{i:02d}" for i in range(5)]
    assert [s.name for s in plan.queued["alice"]] == [f"a{i:02d}" for i in range(5, 50)]
    assert "bob" not in plan.queued


def test_no_share_limit_takes_everything():
    burst = [owned(f"a{i}", "alice", updated=i) for i in range(7)]
    plan = share_deploys(plan_deploys(burst, []), per_user=0)
    assert len(plan.deploy) == 7 and plan.queued == {}


def test_a_container_under_other_limits_is_deployed_again():
    desired = [service("a", status="running", applied=1)]
    running = [replace(container("a"), containment="old")]
    assert plan_deploys(desired, running, containment=lambda s: "old").deploy == []
    assert [s.name for s in plan_deploys(desired, running, containment=lambda s: "new").deploy] == [
        "a"
    ]


def test_two_services_claiming_one_domain_keep_only_the_one_live_on_it():
    live = service("live", status="running", applied=1)
    newcomer = service("newcomer")
    serving = {
        "live": container("live"),
        "newcomer": replace(container("newcomer"), domain="live.test"),
    }
    kept, refused = drop_shared_domains(serving, [live, newcomer])
    assert list(kept) == ["live"]
    assert refused == {
        "newcomer": "domain live.test is served by service live; this route is left out"
    }
    # What is kept renders (routes_conf refuses a shared domain outright).
    routes_conf(routes_for(kept, [live, newcomer]), repo_names())


def test_applied_routes_are_read_from_the_proxys_volume_on_the_host(tmp_path):
    from swsagent.observe import applied_routes

    live = tmp_path / "live"
    live.mkdir()
    assert (
        applied_routes("sws-proxy-1", repo_names().proxy_files, str(tmp_path)) is None
    )  # never rolled
    (live / "routes.conf").write_text("server {}\n")
    (live / "routes.applied").write_text("server {}\n")
    assert applied_routes("sws-proxy-1", repo_names().proxy_files, str(tmp_path)) == "server {}\n"
    (live / "routes.conf").write_text("edited by hand\n")
    assert (
        applied_routes("sws-proxy-1", repo_names().proxy_files, str(tmp_path)) is None
    )  # the next roll writes it again
