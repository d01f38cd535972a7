"""vmkitd under faults around its VMMs (docs/api.md): a VMM that does not
answer when vmkitd restarts, vmkitd killed or stopped during a start, a
shutdown that waits while others act, guests that end during their start.
Daemon on temporary directories (conftest.py's vmkitd fixture)."""
import json
import os
import signal
import threading
import time

from conftest import TIMEOUT, VMM, Qmp, raw_disk_xml, wait_for
from test_virtio_net import netns  # noqa: F401 (a fixture: a namespace with a TAP)
from test_vmkitd import alive, define, err, info


def stalling_vmm(d):
    """Make d spawn its VMMs through a script that stops itself (SIGSTOP)
    before it execs vmkit-vmm: the start hangs until SIGCONT. Returns the
    normal argv for restarting d without it."""
    script = os.path.join(d.base, "stall-vmm")
    with open(script, "w") as f:
        f.write(f'#!/bin/sh\nkill -STOP $$\nexec {VMM} "$@"\n')
    os.chmod(script, 0o755)
    normal = d.argv()
    d.argv = lambda: [script if a == VMM else a for a in normal]
    d.restart()
    return normal


def start_in_background(d, name, uuid, body=None):
    """POST start in a thread (its answer is not awaited); returns the pid
    of the VMM once it has stopped itself and vmkitd has recorded it in the
    state file (written right after the spawn)."""
    def call():
        try:
            d.call("POST", f"/v1/domains/{name}/start", body)
        except OSError:
            pass    # vmkitd went away
    threading.Thread(target=call, daemon=True).start()

    def stopped_vmm():
        for pid in d.vmm_pids():
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(") ")[1][0] == "T":
                    return pid
        return None
    pid = wait_for(stopped_vmm, "the VMM stopping itself")

    def recorded():
        try:
            with open(os.path.join(d.runtime_dir, uuid + ".state")) as f:
                sf = json.load(f)
        except (OSError, ValueError):
            return False
        return sf["pid"] == pid and sf["starting"]
    wait_for(recorded, "the state file")
    return pid


def wait_answering(d, uuid):
    def answers():
        try:
            Qmp(os.path.join(d.runtime_dir, uuid + ".sock"), timeout=2).close()
            return True
        except OSError:
            return False
    wait_for(answers, "the VMM's control socket")


def adopted_after_kill9(d, name, body=None):
    """Start domain name (body: the start request's) through a VMM that
    stops before its exec, kill -9 vmkitd during that start, let the VMM go
    on until its control socket answers, and start vmkitd again normally.
    Returns (the VMM's pid, the domain's info from the new vmkitd)."""
    s = define(d, name)
    normal = stalling_vmm(d)
    pid = start_in_background(d, name, s["uuid"], body)
    d.kill9()
    os.kill(pid, signal.SIGCONT)
    wait_answering(d, s["uuid"])
    d.argv = lambda: normal
    d.start()
    return pid, info(d, name)


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
    assert sorted(os.listdir(d.runtime_dir)) == ["seq.last", "vmkitd-ro.sock", "vmkitd.pid", "vmkitd.sock"]


def test_kill9_during_start_unready_vmm_is_killed(vmkitd, kvm):
    """vmkitd killed -9 while its VMM starts: the next vmkitd finds it by
    its state file; it never got ready, so it is killed: shutoff/failed,
    no orphan VMM."""
    d = vmkitd
    s = define(d, "ks")
    normal = stalling_vmm(d)
    pid = start_in_background(d, "ks", s["uuid"])
    d.kill9()
    d.argv = lambda: normal
    d.start()
    wait_for(lambda: not alive(pid), "the unready VMM killed")
    wait_for(lambda: info(d, "ks")["pid"] is None, "its end handled")
    i = info(d, "ks")
    assert (i["state"], i["reason"]) == ("shutoff", "failed"), i
    assert d.vmm_pids() == []
    assert ("stopped", "failed") == (d.events()[-1]["event"], d.events()[-1]["detail"])
    assert d.api("POST", "/v1/domains/ks/start")["state"] == "running"
    d.api("POST", "/v1/domains/ks/destroy")


def test_kill9_during_start_ready_vmm_is_adopted(vmkitd, kvm):
    """vmkitd killed -9 while its VMM starts; the VMM gets ready while no
    vmkitd runs: the next vmkitd adopts it and finishes the start."""
    d = vmkitd
    pid, i = adopted_after_kill9(d, "ka")
    assert (i["state"], i["reason"], i["pid"]) == ("running", "booted", pid), i
    assert i["console"].startswith("/dev/pts/")
    assert ("started", "booted") in [(e["event"], e["detail"]) for e in d.events()]
    assert d.api("POST", "/v1/domains/ka/suspend")["state"] == "paused"
    assert d.api("POST", "/v1/domains/ka/destroy")["state"] == "shutoff"
    assert not alive(pid)


def test_sigterm_during_start_leaves_the_vmm(vmkitd, kvm):
    """SIGTERM to vmkitd (systemctl restart) while a VMM starts: the VMM is
    left alone, and the next vmkitd adopts it."""
    d = vmkitd
    s = define(d, "kt")
    normal = stalling_vmm(d)
    pid = start_in_background(d, "kt", s["uuid"])
    d.stop()                     # exits 0 without killing the VMM
    assert alive(pid)
    os.kill(pid, signal.SIGCONT)
    wait_answering(d, s["uuid"])
    d.argv = lambda: normal
    d.start()
    i = info(d, "kt")
    assert (i["state"], i["pid"]) == ("running", pid), i
    d.api("POST", "/v1/domains/kt/destroy")


def test_start_paused_runs_no_guest_code(vmkitd, kvm):
    """start with paused=true: the VMM itself starts paused ("paused": true
    in its config), so a guest that would power off at once has printed
    nothing until resumed."""
    d = vmkitd
    out = os.path.join(d.log_dir, "ps.serial")
    define(d, "ps", workload="hello", serial=out)
    st = d.api("POST", "/v1/domains/ps/start", {"paused": True})
    assert (st["state"], st["reason"]) == ("paused", "user"), st
    time.sleep(1)   # time enough for hello to run, were it let
    assert info(d, "ps")["state"] == "paused"
    assert not os.path.exists(out) or "PASS" not in open(out).read()
    d.api("POST", "/v1/domains/ps/resume")
    wait_for(lambda: info(d, "ps")["state"] == "shutoff", "the power-off")
    assert "testguest: hello: PASS" in open(out).read()


def test_console_relay_loses_nothing(vmkitd, kvm):
    """Input faster than the guest reads it, and a client that does not
    read its output for a while: everything arrives, in order (vmkitd
    buffers a bounded amount and then stops reading, so the sender waits)."""
    from test_vmkitd import console_open, recv_until
    d = vmkitd
    define(d, "cr", workload="echo")
    d.api("POST", "/v1/domains/cr/start")
    st, s = console_open(d, "cr")
    assert st == 101
    s.sendall(b"go\r")
    recv_until(s, b"go")
    data = bytes(ord("a") + i % 26 for i in range(32768)) + b"0123456789"
    sender = threading.Thread(target=s.sendall, args=(data,))
    sender.start()
    time.sleep(2)      # not reading meanwhile
    got = recv_until(s, b"0123456789")
    sender.join(TIMEOUT)
    assert got[got.index(b"abcdefghij"):] == data
    s.sendall(b"\x04")
    wait_for(lambda: info(d, "cr")["state"] == "shutoff", "the guest to power off")
    s.close()


def test_shutdown_wait_ends_when_the_client_leaves(vmkitd, kvm):
    """shutdown with a timeout on a guest that ignores the power button
    (echo): a client that hangs up ends the wait (it does not go on for
    the whole timeout); the domain keeps running and stays controllable."""
    import socket
    d = vmkitd
    define(d, "sl", workload="echo")
    st = d.api("POST", "/v1/domains/sl/start")
    body = b'{"timeout": 3600}'
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(d.sock)
    s.sendall(b"POST /v1/domains/sl/shutdown HTTP/1.1\r\nHost: localhost\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
              % (len(body), body))
    time.sleep(1)      # the button is pressed, the wait begins
    s.close()
    wait_for(lambda: "the client waiting for its shutdown left" in d.stderr(), "the wait to end")
    assert info(d, "sl")["state"] == "running" and alive(st["pid"])
    assert d.api("POST", "/v1/domains/sl/destroy")["state"] == "shutoff"


def test_concurrent_defines(vmkitd):
    """Definitions are stored outside vmkitd's main lock: concurrent defines
    of one name with different UUIDs still give exactly one domain (the
    others 409), with one UUID they are redefinitions; autostart and
    undefine keep the state dir in step."""
    from concurrent.futures import ThreadPoolExecutor
    from conftest import domain_xml
    d = vmkitd
    uuids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(1, 9)]
    with ThreadPoolExecutor(8) as ex:
        res = list(ex.map(lambda u: d.call("POST", "/v1/domains",
                                           {"xml": domain_xml("same", uuid=u)}), uuids))
    assert sorted(st for st, _ in res) == [201] + [409] * 7, res
    winner = next(out["uuid"] for st, out in res if st == 201)
    with ThreadPoolExecutor(8) as ex:
        res = list(ex.map(lambda i: d.call("POST", "/v1/domains", {"xml": domain_xml(
            "same", uuid=winner, memory=str(64 + i))}), range(8)))
    assert [st for st, _ in res] == [201] * 8, res
    assert [x["uuid"] for x in d.api("GET", "/v1/domains?all=1")["domains"]] == [winner]
    assert os.listdir(os.path.join(d.state_dir, "domains")) == [winner + ".xml"]
    d.api("PUT", "/v1/domains/same/autostart", {"autostart": True})
    assert os.listdir(os.path.join(d.state_dir, "autostart")) == [winner]
    d.api("DELETE", "/v1/domains/same")
    assert os.listdir(os.path.join(d.state_dir, "domains")) == []
    assert os.listdir(os.path.join(d.state_dir, "autostart")) == []
    ev = [(e["event"], e["detail"]) for e in d.events()]
    assert ev == [("defined", "added")] + [("defined", "updated")] * 8 + [("undefined", "removed")]


def test_console_clients_that_leave_before_the_upgrade(vmkitd, kvm):
    """Clients that send the console upgrade and hang up at once leave no
    reservation (the next client attaches without force) and no domain
    reference (a transient domain is freed once destroyed: vmkitd's clean
    exit under ASan checks it)."""
    import socket
    from conftest import domain_xml
    from test_vmkitd import console_open, recv_until
    d = vmkitd
    d.api("POST", "/v1/domains/create", {"xml": domain_xml("cl", workload="echo")})
    for _ in range(20):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(d.sock)
        s.sendall(b"GET /v1/domains/cl/console HTTP/1.1\r\nHost: localhost\r\n"
                  b"Connection: Upgrade\r\nUpgrade: vmkit-console\r\n\r\n")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        s.close()      # RST
    st, s = console_open(d, "cl")
    assert st == 101
    s.sendall(b"hi\r")
    recv_until(s, b"hi")
    s.close()
    d.api("POST", "/v1/domains/cl/destroy")
    d.stop()           # exit 0: nothing leaked


def test_vmm_that_cannot_be_spawned_leaves_no_files(vmkitd):
    """--vmm names nothing runnable: start fails (vmm-failed, shutoff/failed)
    and leaves no --config file or any other runtime file behind."""
    d = vmkitd
    normal = d.argv()
    d.argv = lambda: [os.path.join(d.base, "no-such-vmm") if a == VMM else a for a in normal]
    d.restart()
    define(d, "nv")
    st, code, msg = err(d, "POST", "/v1/domains/nv/start")
    assert (st, code) == (502, "vmm-failed") and "no-such-vmm" in msg, msg
    i = info(d, "nv")
    assert (i["state"], i["reason"], i["pid"]) == ("shutoff", "failed", None), i
    assert sorted(os.listdir(d.runtime_dir)) == ["seq.last", "vmkitd-ro.sock", "vmkitd.pid", "vmkitd.sock"]


# ---- review: tests that were missing ----

def test_second_vmkitd_with_running_vms(vmkitd, kvm):
    """A second vmkitd on the same state dir while VMs run: refused with a
    clear error; the VMs keep running, nothing stored changes, and the
    first vmkitd still controls them."""
    import subprocess
    d = vmkitd
    define(d, "r1")
    define(d, "r2")
    p1 = d.api("POST", "/v1/domains/r1/start")["pid"]
    p2 = d.api("POST", "/v1/domains/r2/start", {"paused": True})["pid"]
    stored = {f: open(os.path.join(d.state_dir, "domains", f)).read()
              for f in os.listdir(os.path.join(d.state_dir, "domains"))}
    runtime = sorted(os.listdir(d.runtime_dir))
    r = subprocess.run(d.argv(), capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 1 and "another vmkitd" in r.stderr, r.stderr
    assert alive(p1) and alive(p2)
    assert sorted(os.listdir(d.runtime_dir)) == runtime
    assert stored == {f: open(os.path.join(d.state_dir, "domains", f)).read()
                      for f in os.listdir(os.path.join(d.state_dir, "domains"))}
    assert (info(d, "r1")["pid"], info(d, "r2")["state"]) == (p1, "paused")
    assert d.api("POST", "/v1/domains/r2/resume")["state"] == "running"
    assert d.api("POST", "/v1/domains/r1/suspend")["state"] == "paused"
    for n in ("r1", "r2"):
        assert d.api("POST", f"/v1/domains/{n}/destroy")["state"] == "shutoff"
    assert not alive(p1) and not alive(p2)


def metrics_families(doc):
    """The metric families and types that docs/metrics.md lists."""
    import re
    fams = {}
    with open(doc) as f:
        for line in f:
            m = re.match(r"\| `(vmkit_[a-z_]+)` \| (counter|gauge)", line)
            if m:
                fams[m.group(1)] = m.group(2)
    return fams


def test_net_counters_and_every_metrics_family(netns):
    """A domain with an ethernet interface on a TAP (in a network namespace,
    vmkitd in it too) running the `net` workload against the echo host:
    DOMSTATS has the interface with moving counters, and /v1/metrics has
    every family of docs/metrics.md with its TYPE and samples."""
    from conftest import ROOT, Vmkitd
    from test_virtio_net import MAC, TAP
    fams = metrics_families(os.path.join(ROOT, "docs", "metrics.md"))
    assert len(fams) > 20, fams
    netns.start_echo()
    d = Vmkitd(prefix=["ip", "netns", "exec", netns.name])
    try:
        d.start()
        define(d, "met", workload="net", cmdline="count=100000", memory="256",
               devices=raw_disk_xml(os.path.join(d.base, "m.raw"), 8 << 20)
                       + f"<interface type='ethernet'><mac address='{MAC}'/>"
                       f"<target dev='{TAP}' managed='no'/><model type='virtio'/></interface>"
                       "<memballoon model='virtio'/>")
        define(d, "met-off")
        d.api("POST", "/v1/domains/met/start")

        def net():
            s = d.api("GET", "/v1/domains/met/stats", ro=True)
            assert s["state"] == "running", s
            n = s["net"]
            return n if n and n[0]["rx_packets"] > 0 and n[0]["tx_packets"] > 0 else None
        n1 = wait_for(net, "frames both ways")
        assert len(n1) == 1 and n1[0]["target"] == TAP and n1[0]["mac"] == MAC, n1
        wait_for(lambda: net()[0]["rx_bytes"] > n1[0]["rx_bytes"], "the counters to move")
        st, text = d.call("GET", "/v1/metrics", ro=True)
        assert st == 200
        lines = text.splitlines()
        types = dict(l.split()[2:4] for l in lines if l.startswith("# TYPE "))
        for fam, typ in fams.items():
            assert types.get(fam) == typ, (fam, typ, types.get(fam))
            assert any(l.startswith(fam) for l in lines if not l.startswith("#")), fam
        assert 'vmkit_domain_net_receive_packets_total{name="met"' in text
        assert "vmkit_host_domains_defined 2" in text
        d.api("POST", "/v1/domains/met/destroy")
    finally:
        d.finalize()


def test_no_lost_event_after_a_crash_for_a_client_that_saw_everything(vmkitd):
    """vmkitd killed -9: the next one continues after its reservation; a
    client asking since the last event it saw gets no "lost" event (the
    numbers in between were never used), one that missed an event does."""
    d = vmkitd
    define(d, "g1")
    define(d, "g2")
    last = d.events()[-1]["seq"]
    d.kill9()
    d.start()
    define(d, "g3")
    ev = d.events(since=last)
    assert [(e["event"], e["domain"]["name"]) for e in ev] == [("defined", "g3")], ev
    assert ev[0]["seq"] > last
    ev = d.events(since=last - 1)
    assert [e["event"] for e in ev] == ["lost", "defined"] and ev[0]["detail"] == "1 events", ev


def test_kill9_during_paused_start_adopted_paused(vmkitd, kvm):
    """The same with start --paused: the adopted VMM is paused (it started
    with --paused), events started then suspended."""
    d = vmkitd
    pid, i = adopted_after_kill9(d, "kp", {"paused": True})
    assert (i["state"], i["reason"], i["pid"]) == ("paused", "user", pid), i
    ev = [(e["event"], e["detail"]) for e in d.events() if e["domain"]["name"] == "kp"]
    assert ev[-2:] == [("started", "booted"), ("suspended", "paused")], ev
    assert d.api("POST", "/v1/domains/kp/resume")["state"] == "running"
    d.api("POST", "/v1/domains/kp/destroy")
