"""vmkitd under faults around its VMMs (docs/api.md): a VMM that does not
answer when vmkitd restarts, vmkitd killed or stopped during a start, a
shutdown that waits while others act, guests that end during their start.
Daemon on temporary directories (conftest.py's vmkitd fixture)."""
import os
import signal

from conftest import TIMEOUT
from test_vmkitd import alive, define, err, info, wait_for


def test_stopped_vmm_is_adopted_not_duplicated(vmkitd, kvm):
    """A VMM whose start time matches but whose control socket is silent
    (SIGSTOP) at vmkitd's restart is still that VMM: adopted with its last
    state, never reported ended, and a second one is never started."""
    d = vmkitd
    s = define(d, "stp")
    st = d.api("POST", "/v1/domains/stp/start")
    os.kill(st["pid"], signal.SIGSTOP)
    try:
        d.kill9()
        d.start()              # re-attach waits for the silent control socket
        i = info(d, "stp")
        assert (i["state"], i["pid"], i["id"]) == ("running", st["pid"], st["id"]), d.stderr()
        assert os.path.exists(os.path.join(d.runtime_dir, s["uuid"] + ".state"))
        _, code, _ = err(d, "POST", "/v1/domains/stp/start")
        assert code == "operation-invalid"
    finally:
        os.kill(st["pid"], signal.SIGCONT)
    assert d.vmm_pids() == [st["pid"]]
    assert d.api("POST", "/v1/domains/stp/suspend")["state"] == "paused"
    assert d.api("POST", "/v1/domains/stp/resume")["state"] == "running"
    gone = d.api("POST", "/v1/domains/stp/destroy")
    assert (gone["state"], gone["reason"]) == ("shutoff", "destroyed")
    assert not alive(st["pid"]) and d.vmm_pids() == []


def test_guest_that_powers_off_at_once(vmkitd, kvm):
    """`hello` powers off within milliseconds, often before the VMM has
    answered vmkitd's first query-status: every start still succeeds (200,
    started then stopped/shutdown), never 502 or shutoff/failed."""
    d = vmkitd
    define(d, "quick", workload="hello")
    for _ in range(30):
        status, out = d.call("POST", "/v1/domains/quick/start")
        assert status == 200, out
        wait_for(lambda: info(d, "quick")["state"] != "running", "the power-off")
        i = info(d, "quick")
        assert (i["state"], i["reason"], i["pid"]) == ("shutoff", "shutdown", None), i
    ev = [(e["event"], e["detail"]) for e in d.events() if e["event"] != "defined"]
    assert ev == [("started", "booted"), ("stopped", "shutdown")] * 30, ev
    assert sorted(os.listdir(d.runtime_dir)) == ["vmkitd-ro.sock", "vmkitd.pid", "vmkitd.sock"]
