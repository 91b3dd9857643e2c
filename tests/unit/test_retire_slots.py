"""The background removals' host-wide slots (module_utils/retire.py): however many children
stop containers at once, at most `slots` are inside at any moment (a hundred removals at once
left an endpoint behind on the services network in Docker 20.10)."""

from __future__ import annotations

import threading
import time

from swsagent import collection


def test_no_more_than_the_slots_are_held_at_once(tmp_path):
    retire = collection.module_utils("retire")
    inside, most, lock = [0], [0], threading.Lock()

    def remove_one():
        with retire._slot(str(tmp_path / "slots"), 2):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.1)
            with lock:
                inside[0] -= 1

    workers = [threading.Thread(target=remove_one) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=10)
    assert most[0] == 2 and inside[0] == 0


def test_no_directory_means_no_bound():
    retire = collection.module_utils("retire")
    with retire._slot("", 2):
        pass
