"""vmkitd through its REST API (docs/api.md): lifecycle with the test guest,
events, the read-only socket, bad input of every kind, VMM crashes, restarts
of the daemon with VMs running. The daemon runs on temporary directories
(conftest.py's vmkitd fixture); every VMM it started is killed afterwards."""
import json
import os
import signal
import subprocess

import pytest

from conftest import TIMEOUT, VMKITD, domain_xml, raw_disk_xml, rss_anon, wait_for


def define(d, name, **kw):
    return d.api("POST", "/v1/domains", {"xml": domain_xml(name, **kw)})


def info(d, name):
    return d.api("GET", f"/v1/domains/{name}")


def err(d, method, path, body=None, **kw):
    status, out = d.call(method, path, body, **kw)
    assert status >= 400, out
    assert set(out) == {"error"} and set(out["error"]) == {"code", "message"}, out
    return status, out["error"]["code"], out["error"]["message"]


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def serial_file(d, name):
    return os.path.join(d.log_dir, f"{name}.serial")


def test_version_and_empty(vmkitd):
    v = vmkitd.api("GET", "/v1/version")
    assert v["version"] and v["api"] == 1 and v["vmm"].endswith("vmkit-vmm")
    assert vmkitd.api("GET", "/v1/domains") == {"domains": []}
    assert vmkitd.api("GET", "/v1/domains?all=1", ro=True) == {"domains": []}
    assert oct(os.stat(vmkitd.sock).st_mode & 0o777) == "0o600"
    assert oct(os.stat(vmkitd.ro_sock).st_mode & 0o777) == "0o666"


def test_lifecycle_shutdown_reaches_guest(vmkitd, kvm):
    d = vmkitd
    out = serial_file(d, "web")
    s = define(d, "web", serial=out)
    assert s["state"] == "shutoff" and s["reason"] == "unknown" and s["id"] is None
    assert s["persistent"] and not s["autostart"]
    st = d.api("POST", "/v1/domains/web/start")
    assert (st["state"], st["reason"]) == ("running", "booted")
    assert st["id"] >= 1 and alive(st["pid"])
    assert st["max_memory_bytes"] == 64 << 20 and st["vcpus"] == 1
    assert [x["name"] for x in d.api("GET", "/v1/domains")["domains"]] == ["web"]
    _, code, msg = err(d, "POST", "/v1/domains/web/start")
    assert code == "operation-invalid" and "'web' is already running" in msg
    assert d.api("POST", "/v1/domains/web/suspend")["state"] == "paused"
    _, code, _ = err(d, "POST", "/v1/domains/web/suspend")
    assert code == "operation-invalid"
    r = d.api("POST", f"/v1/domains/{s['uuid']}/resume")
    assert (r["state"], r["reason"]) == ("running", "unpaused")
    wait_for(lambda: os.path.exists(out) and "idle" in open(out).read(), "the guest banner")
    done = d.api("POST", "/v1/domains/web/shutdown", {"timeout": int(TIMEOUT)})
    assert (done["state"], done["reason"]) == ("shutoff", "shutdown")
    assert done["pid"] is None and done["id"] is None
    assert "testguest: idle: PASS" in open(out).read()   # the power button reached it
    assert not alive(st["pid"])
    ev = [(e["event"], e["detail"]) for e in d.events() if e["domain"]["name"] == "web"]
    assert ev == [("defined", "added"), ("started", "booted"), ("suspended", "paused"),
                  ("resumed", "unpaused"), ("stopped", "shutdown")]
    assert sorted(os.listdir(d.runtime_dir)) == ["seq.last", "vmkitd-ro.sock", "vmkitd.pid", "vmkitd.sock"]
    _, code, _ = err(d, "POST", "/v1/domains/web/shutdown")
    assert code == "operation-invalid"


def test_destroy_reset_reboot_xml(vmkitd, kvm):
    d = vmkitd
    define(d, "d1")
    st = d.api("POST", "/v1/domains/d1/start", {"paused": True})
    assert (st["state"], st["reason"]) == ("paused", "user")
    assert st["console"].startswith("/dev/pts/")
    live = d.api("GET", "/v1/domains/d1/xml")["xml"]
    assert f"<source path='{st['console']}'/>" in live
    assert "<source path=" not in d.api("GET", "/v1/domains/d1/xml?inactive=1")["xml"]
    assert d.api("POST", "/v1/domains/d1/reset")["state"] == "paused"
    _, code, _ = err(d, "POST", "/v1/domains/d1/reboot")
    assert code == "operation-invalid"
    d.api("POST", "/v1/domains/d1/resume")
    assert d.api("POST", "/v1/domains/d1/reboot")["state"] == "running"
    gone = d.api("POST", "/v1/domains/d1/destroy")
    assert (gone["state"], gone["reason"]) == ("shutoff", "destroyed")
    assert not alive(st["pid"])
    ev = [(e["event"], e["detail"]) for e in d.events()]
    assert ("rebooted", "reset") in ev and ev[-1] == ("stopped", "destroyed")
    # ids are never reused
    again = d.api("POST", "/v1/domains/d1/start", {"paused": True})
    assert again["id"] > st["id"]
    gone = d.api("POST", "/v1/domains/d1/destroy", {"graceful": True})   # while paused
    assert (gone["state"], gone["reason"]) == ("shutoff", "destroyed")
    assert not alive(again["pid"])


def test_transient_and_undefine(vmkitd, kvm):
    d = vmkitd
    c = d.api("POST", "/v1/domains/create", {"xml": domain_xml("t1")})
    assert c["state"] == "running" and not c["persistent"]
    _, code, _ = err(d, "PUT", "/v1/domains/t1/autostart", {"autostart": True})
    assert code == "operation-invalid"
    assert os.path.exists(os.path.join(d.runtime_dir, c["uuid"] + ".xml"))
    _, code, msg = err(d, "DELETE", "/v1/domains/t1")
    assert code == "operation-invalid" and "transient" in msg
    d.api("POST", "/v1/domains/t1/destroy")
    _, code, _ = err(d, "GET", "/v1/domains/t1")
    assert code == "no-domain"
    assert d.api("GET", "/v1/domains?all=1")["domains"] == []
    # undefine a running persistent domain: transient until it stops
    p = define(d, "p1")
    a = d.api("PUT", "/v1/domains/p1/autostart", {"autostart": True})
    assert a["autostart"]
    assert os.path.exists(os.path.join(d.state_dir, "autostart", p["uuid"]))
    d.api("POST", "/v1/domains/p1/start")
    assert d.api("DELETE", "/v1/domains/p1") == {}
    i = info(d, "p1")
    assert i["state"] == "running" and not i["persistent"] and not i["autostart"]
    assert not os.path.exists(os.path.join(d.state_dir, "domains", p["uuid"] + ".xml"))
    assert not os.path.exists(os.path.join(d.state_dir, "autostart", p["uuid"]))
    d.api("POST", "/v1/domains/p1/destroy")
    assert err(d, "GET", "/v1/domains/p1")[1] == "no-domain"
    # undefine an inactive one
    define(d, "p2")
    d.api("DELETE", "/v1/domains/p2")
    assert d.api("GET", "/v1/domains?all=1")["domains"] == []
    assert os.listdir(os.path.join(d.state_dir, "domains")) == []


def test_redefine_keeps_running_config(vmkitd, kvm):
    d = vmkitd
    s = define(d, "r1", uuid="6d1f0b5e-1b1a-4c51-9a59-2f4a2b0c9d11")
    d.api("POST", "/v1/domains/r1/start")
    s2 = define(d, "r1", uuid=s["uuid"], memory="128")
    assert s2["state"] == "running"
    assert info(d, "r1")["max_memory_bytes"] == 64 << 20     # still the running config
    assert "128" in d.api("GET", "/v1/domains/r1/xml?inactive=1")["xml"]
    d.api("POST", "/v1/domains/r1/destroy")
    assert info(d, "r1")["max_memory_bytes"] == 128 << 20
    ev = [(e["event"], e["detail"]) for e in d.events()]
    assert ("defined", "updated") in ev


def test_bad_input(vmkitd):
    d = vmkitd
    st, code, msg = err(d, "POST", "/v1/domains", {"xml": "<domain><name>x</name"})
    assert (st, code) == (400, "invalid-xml") and "line" in msg
    xml = domain_xml("g1", devices="<graphics type='vnc'/>")
    st, code, msg = err(d, "POST", "/v1/domains", {"xml": xml})
    assert (st, code) == (400, "invalid-xml")
    line = xml.splitlines().index(next(l for l in xml.splitlines() if "graphics" in l)) + 1
    assert "<graphics>" in msg and f"line {line}" in msg, msg
    st, code, msg = err(d, "POST", "/v1/domains", {"xml": domain_xml("m1", memory="1")})
    assert (st, code) == (400, "invalid-xml") and "memory" in msg
    st, code, msg = err(d, "POST", "/v1/domains", {"xml": domain_xml("v1", vcpus=100000)})
    assert (st, code) == (400, "invalid-xml") and "vcpu" in msg
    a = define(d, "dup")
    st, code, msg = err(d, "POST", "/v1/domains", {"xml": domain_xml("dup")})
    assert (st, code) == (409, "domain-exists") and "dup" in msg
    st, code, msg = err(d, "POST", "/v1/domains", {"xml": domain_xml("other", uuid=a["uuid"])})
    assert (st, code) == (409, "domain-exists") and a["uuid"] in msg
    st, code, _ = err(d, "POST", "/v1/domains/create", {"xml": domain_xml("dup", uuid=a["uuid"])})
    assert (st, code) == (409, "domain-exists")
    define(d, "nokernel", kernel="/nonexistent/vmlinuz")
    st, code, msg = err(d, "POST", "/v1/domains/nokernel/start")
    assert (st, code) == (422, "invalid-config") and "/nonexistent/vmlinuz" in msg
    assert info(d, "nokernel")["state"] == "shutoff"
    define(d, "nodisk", devices="<disk type='file' device='disk'><source file='/nonexistent/d.img'/>"
           "<target dev='vda' bus='virtio'/></disk>")
    st, code, msg = err(d, "POST", "/v1/domains/nodisk/start")
    assert (st, code) == (422, "invalid-config") and "/nonexistent/d.img" in msg
    st, code, _ = err(d, "POST", "/v1/domains/create",
                      {"xml": domain_xml("tnok", kernel="/nonexistent/vmlinuz")})
    assert (st, code) == (422, "invalid-config")
    assert err(d, "GET", "/v1/domains/tnok")[1] == "no-domain"      # a failed create leaves
    st, code, _ = err(d, "POST", "/v1/domains/dup/start", ro=True)
    assert (st, code) == (403, "read-only")
    st, code, _ = err(d, "DELETE", "/v1/domains/dup", ro=True)
    assert (st, code) == (403, "read-only")
    assert d.api("GET", "/v1/domains/dup", ro=True)["name"] == "dup"
    st, code, _ = err(d, "POST", "/v1/domains", raw="not json")
    assert (st, code) == (400, "invalid-json")
    st, code, _ = err(d, "POST", "/v1/domains", raw="[1]")
    assert (st, code) == (400, "invalid-json")
    st, code, msg = err(d, "POST", "/v1/domains", {"xml": 5})
    assert (st, code) == (400, "invalid-argument") and "xml" in msg
    st, code, msg = err(d, "POST", "/v1/domains", {})
    assert (st, code) == (400, "invalid-argument") and "xml" in msg
    st, code, msg = err(d, "POST", "/v1/domains/dup/shutdown", {"timeout": 99999})
    assert (st, code) == (400, "invalid-argument") and "timeout" in msg
    # bodies over the limit: test_vmkitd_api.py (answered before the body is read)
    st, code, _ = err(d, "GET", "/v1/nowhere")
    assert (st, code) == (404, "no-route")
    st, code, _ = err(d, "GET", "/v2/domains")
    assert (st, code) == (404, "no-route")
    st, code, _ = err(d, "DELETE", "/v1/version")
    assert (st, code) == (405, "method-not-allowed")
    st, code, _ = err(d, "GET", "/v1/domains/nosuch")
    assert (st, code) == (404, "no-domain")
    st, code, _ = err(d, "GET", "/v1/domains/bad%20name")
    assert (st, code) == (400, "invalid-argument")
    st, code, _ = err(d, "GET", "/v1/domains?bogus=1")
    assert (st, code) == (400, "invalid-argument")
    st, code, _ = err(d, "GET", "/v1/events?since=abc")
    assert (st, code) == (400, "invalid-argument")
    # nothing stored was lost, and the daemon still answers
    names = [x["name"] for x in d.api("GET", "/v1/domains?all=1")["domains"]]
    assert names == ["dup", "nodisk", "nokernel"]


def test_vmm_crash_midrun(vmkitd, kvm):
    d = vmkitd
    define(d, "c1")
    st = d.api("POST", "/v1/domains/c1/start")
    os.kill(st["pid"], signal.SIGKILL)
    wait_for(lambda: info(d, "c1")["state"] == "crashed", "crashed state")
    i = info(d, "c1")
    assert i["reason"] == "crashed" and i["pid"] is None
    assert ("stopped", "crashed") == (d.events()[-1]["event"], d.events()[-1]["detail"])
    # crashed is inactive: start works again
    assert d.api("POST", "/v1/domains/c1/start")["state"] == "running"
    d.api("POST", "/v1/domains/c1/destroy")


def test_second_vmkitd_refused(vmkitd):
    define(vmkitd, "keep")
    r = subprocess.run(vmkitd.argv(), capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 1
    lock = os.path.join(vmkitd.state_dir, "lock")
    assert f"another vmkitd (pid {vmkitd.proc.pid}) holds {lock}" in r.stderr
    assert info(vmkitd, "keep")["state"] == "shutoff"
    assert len(os.listdir(os.path.join(vmkitd.state_dir, "domains"))) == 1


# ---- vmkitd restarts and crashes with VMs running ----

def state_file(d, uuid):
    with open(os.path.join(d.runtime_dir, uuid + ".state")) as f:
        return json.load(f)


def test_kill9_with_five_running_vms(vmkitd, kvm):
    d = vmkitd
    before = {}
    for i in range(5):
        define(d, f"k{i}")
        before[f"k{i}"] = d.api("POST", f"/v1/domains/k{i}/start")
    d.api("POST", "/v1/domains/k4/suspend")
    d.api("POST", "/v1/domains/create", {"xml": domain_xml("kt")})
    t = info(d, "kt")
    last = d.events()[-1]["seq"]
    d.kill9()
    d.start()
    for name, st in before.items():
        i = info(d, name)
        assert i["state"] == ("paused" if name == "k4" else "running"), i
        assert (i["pid"], i["id"], i["console"]) == (st["pid"], st["id"], st["console"])
    assert info(d, "kt")["pid"] == t["pid"] and not info(d, "kt")["persistent"]
    # still controllable
    assert d.api("POST", "/v1/domains/k4/resume")["state"] == "running"
    assert d.api("POST", "/v1/domains/k0/suspend")["state"] == "paused"
    assert d.api("POST", "/v1/domains/k1/shutdown", {"timeout": int(TIMEOUT)})["state"] == "shutoff"
    assert d.api("POST", "/v1/domains/kt/destroy")["state"] == "shutoff"
    assert err(d, "GET", "/v1/domains/kt")[1] == "no-domain"
    # ids keep growing, event numbers too
    assert d.api("POST", "/v1/domains/k1/start")["id"] > max(s["id"] for s in before.values())
    assert all(e["seq"] > last for e in d.events(since=last))
    # a clean restart re-attaches as well
    d.restart()
    assert info(d, "k2")["pid"] == before["k2"]["pid"]
    for i in range(5):
        d.api("POST", f"/v1/domains/k{i}/destroy")


def test_changes_while_down_are_reported(vmkitd, kvm):
    from conftest import Qmp
    d = vmkitd
    out = serial_file(d, "off")
    off = define(d, "off", serial=out)
    killed = define(d, "killed")
    d.api("POST", "/v1/domains/off/start")
    wait_for(lambda: os.path.exists(out) and "idle" in open(out).read(), "the guest banner")
    kpid = d.api("POST", "/v1/domains/killed/start")["pid"]
    d.api("POST", "/v1/domains/create", {"xml": domain_xml("gone")})
    tr = info(d, "gone")
    d.kill9()
    q = Qmp(os.path.join(d.runtime_dir, off["uuid"] + ".sock"))
    q.cmd("system-powerdown")
    q.close()
    os.kill(kpid, signal.SIGKILL)
    os.kill(tr["pid"], signal.SIGKILL)
    wait_for(lambda: not alive(kpid) and not alive(tr["pid"]), "the kills")
    wait_for(lambda: os.path.exists(os.path.join(d.runtime_dir, off["uuid"] + ".sock.exit")),
             "the power-off")
    d.start()
    i = info(d, "off")
    assert (i["state"], i["reason"]) == ("shutoff", "shutdown")
    assert "testguest: idle: PASS" in open(out).read()
    i = info(d, "killed")
    assert (i["state"], i["reason"]) == ("crashed", "crashed")
    assert err(d, "GET", "/v1/domains/gone")[1] == "no-domain"
    ev = {(e["domain"]["name"], e["event"], e["detail"]) for e in d.events()}
    assert {("off", "stopped", "shutdown"), ("killed", "stopped", "crashed"),
            ("gone", "stopped", "crashed")} <= ev
    assert sorted(os.listdir(d.runtime_dir)) == ["seq.last", "vmkitd-ro.sock", "vmkitd.pid", "vmkitd.sock"]
    assert killed["uuid"] in os.listdir(os.path.join(d.state_dir, "domains"))[0] or \
        killed["uuid"] + ".xml" in os.listdir(os.path.join(d.state_dir, "domains"))


def test_reused_pid_is_never_adopted(vmkitd, kvm):
    d = vmkitd
    s = define(d, "imp")
    st = d.api("POST", "/v1/domains/imp/start")
    d.kill9()
    os.kill(st["pid"], signal.SIGKILL)
    wait_for(lambda: not alive(st["pid"]), "the kill")
    # an unrelated process now "owns" the pid of the state file, with its own start time
    other = subprocess.Popen(["sleep", "600"])
    try:
        sf = state_file(d, s["uuid"])
        with open(f"/proc/{other.pid}/stat") as f:
            sf["pid"], sf["starttime"] = other.pid, int(f.read().split(") ")[1].split()[19])
        with open(os.path.join(d.runtime_dir, s["uuid"] + ".state"), "w") as f:
            json.dump(sf, f)
        d.start()
        i = info(d, "imp")
        assert (i["state"], i["pid"]) == ("crashed", None)   # not adopted: no such VMM
        assert other.poll() is None                          # and left alone
    finally:
        other.kill()
        other.wait()


def test_another_domains_vmm_is_never_adopted(vmkitd, kvm):
    d = vmkitd
    a = define(d, "ua")
    b = define(d, "ub")
    sa = d.api("POST", "/v1/domains/ua/start")
    sb = d.api("POST", "/v1/domains/ub/start")
    d.kill9()
    os.kill(sb["pid"], signal.SIGKILL)
    wait_for(lambda: not alive(sb["pid"]), "the kill")
    # ub's state file now names ua's VMM (right pid and start time, wrong UUID)
    fa, fb = state_file(d, a["uuid"]), state_file(d, b["uuid"])
    fb["pid"], fb["starttime"] = fa["pid"], fa["starttime"]
    with open(os.path.join(d.runtime_dir, b["uuid"] + ".state"), "w") as f:
        json.dump(fb, f)
    os.unlink(os.path.join(d.runtime_dir, b["uuid"] + ".sock"))
    os.symlink(os.path.join(d.runtime_dir, a["uuid"] + ".sock"),
               os.path.join(d.runtime_dir, b["uuid"] + ".sock"))
    d.start()
    ia, ib = info(d, "ua"), info(d, "ub")
    assert ia["state"] == "running" and ia["pid"] == sa["pid"]
    assert ib["state"] == "crashed" and ib["pid"] is None
    assert alive(sa["pid"])
    d.api("POST", "/v1/domains/ua/destroy")


def test_bad_files_in_the_state_dir(vmkitd):
    d = vmkitd
    good = define(d, "good")
    d.stop()
    bad = os.path.join(d.state_dir, "domains", "00000000-0000-4000-8000-000000000001.xml")
    with open(bad, "w") as f:
        f.write("<domain><name>broken")
    with open(os.path.join(d.runtime_dir, "00000000-0000-4000-8000-000000000002.state"), "w") as f:
        f.write("{not json")
    d.start()
    assert [x["name"] for x in d.api("GET", "/v1/domains?all=1")["domains"]] == ["good"]
    assert open(bad).read() == "<domain><name>broken"        # left in place
    assert "00000000-0000-4000-8000-000000000001.xml" in d.stderr() and "skipped" in d.stderr()
    assert "00000000-0000-4000-8000-000000000002.state" in d.stderr()
    assert good["uuid"] + ".xml" in os.listdir(os.path.join(d.state_dir, "domains"))
    d.stop()
    with open(os.path.join(d.state_dir, "seq"), "w") as f:
        f.write("garbage\n")
    r = subprocess.run(d.argv(), capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 1 and "seq" in r.stderr and "not a number" in r.stderr


def test_missing_bridge(vmkitd):
    d = vmkitd
    define(d, "br", devices="<interface type='bridge'><source bridge='vmknosuchbr0'/>"
           "<model type='virtio'/></interface>")
    st, code, msg = err(d, "POST", "/v1/domains/br/start")
    assert (st, code) == (422, "invalid-config") and "vmknosuchbr0" in msg, msg
    assert info(d, "br")["state"] == "shutoff"


def test_sigterm_with_clients_attached(vmkitd, kvm):
    from conftest import _UnixHTTP
    d = vmkitd
    define(d, "sc", workload="echo")
    st = d.api("POST", "/v1/domains/sc/start")
    code, con = console_open(d, "sc")
    assert code == 101
    ev = _UnixHTTP(d.sock, TIMEOUT)
    ev.request("GET", "/v1/events")
    assert ev.getresponse().status == 200
    d.restart()                 # SIGTERM: exits 0 (leak-free) with both attached
    con.close()
    ev.close()
    assert info(d, "sc")["pid"] == st["pid"]
    d.api("POST", "/v1/domains/sc/destroy")


def test_autostart_on_daemon_start(vmkitd, kvm):
    d = vmkitd
    define(d, "auto")
    define(d, "manual")
    d.api("PUT", "/v1/domains/auto/autostart", {"autostart": True})
    d.restart()
    wait_for(lambda: info(d, "auto")["state"] == "running", "autostart")
    assert info(d, "manual")["state"] == "shutoff"
    assert ("started", "autostart") in [(e["event"], e["detail"]) for e in d.events()]
    d.api("PUT", "/v1/domains/auto/autostart", {"autostart": False})
    d.api("POST", "/v1/domains/auto/destroy")
    d.restart()
    assert info(d, "auto")["state"] == "shutoff" and not info(d, "auto")["autostart"]


def test_event_stream_follows(vmkitd, kvm):
    from conftest import _UnixHTTP
    d = vmkitd
    define(d, "ev")
    conn = _UnixHTTP(d.sock, TIMEOUT)
    conn.request("GET", "/v1/events")
    resp = conn.getresponse()
    assert resp.status == 200 and "ndjson" in resp.getheader("Content-Type")
    d.api("POST", "/v1/domains/ev/start")
    first = json.loads(resp.readline())
    assert (first["event"], first["detail"], first["domain"]["name"]) == ("started", "booted", "ev")
    d.api("POST", "/v1/domains/ev/destroy")
    second = json.loads(resp.readline())
    assert (second["event"], second["detail"]) == ("stopped", "destroyed")
    assert second["seq"] > first["seq"]
    conn.close()
    replay = d.events(since=first["seq"] - 1)
    assert [e["seq"] for e in replay] == [first["seq"], second["seq"]]
    assert d.events(since=second["seq"]) == []
    assert d.events(since=10 ** 15) == []          # a seq from the future: nothing yet


def test_twenty_domains_concurrently(vmkitd, kvm):
    from concurrent.futures import ThreadPoolExecutor
    d = vmkitd
    names = [f"c{i:02d}" for i in range(20)]

    def up(n):
        define(d, n)
        return d.api("POST", f"/v1/domains/{n}/start")

    def down(n):
        if int(n[1:]) % 2:
            return d.api("POST", f"/v1/domains/{n}/destroy")
        return d.api("POST", f"/v1/domains/{n}/shutdown", {"timeout": int(TIMEOUT)})

    with ThreadPoolExecutor(20) as ex:
        started = list(ex.map(up, names))
    assert len({s["pid"] for s in started}) == 20 and len({s["id"] for s in started}) == 20
    listed = d.api("GET", "/v1/domains")["domains"]
    assert [x["id"] for x in listed] == sorted(s["id"] for s in started)
    with ThreadPoolExecutor(20) as ex:
        stopped = list(ex.map(down, names))
    assert all(s["state"] == "shutoff" for s in stopped)
    assert d.api("GET", "/v1/domains")["domains"] == []
    assert not any(alive(s["pid"]) for s in started)


# ---- the console (HTTP Upgrade) ----

def console_open(d, name, query="", ro=False):
    """Connect and upgrade; returns (status, socket or response text)."""
    import socket as so
    s = so.socket(so.AF_UNIX, so.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect(d.ro_sock if ro else d.sock)
    s.sendall(f"GET /v1/domains/{name}/console{query} HTTP/1.1\r\nHost: localhost\r\n"
              "Connection: Upgrade\r\nUpgrade: vmkit-console\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            break
        head += chunk
    status = int(head.split(b" ")[1])
    if status != 101:
        body = s.recv(65536)
        s.close()
        return status, (head + body).decode(errors="replace")
    assert b"upgrade: vmkit-console" in head.lower()
    return status, s


def recv_until(s, text):
    buf = b""
    while text not in buf:
        chunk = s.recv(4096)
        assert chunk, f"console closed before {text!r}: {buf!r}"
        buf += chunk
    return buf


def test_console(vmkitd, kvm):
    d = vmkitd
    define(d, "con", workload="echo")
    d.api("POST", "/v1/domains/con/start")
    log = os.path.join(d.log_dir, "con.log")
    # nobody attached: the guest's output goes to the domain log
    wait_for(lambda: "testguest" in open(log, errors="replace").read(), "console output in the log")
    st, s1 = console_open(d, "con")
    assert st == 101
    s1.sendall(b"ping-1\r")
    recv_until(s1, b"ping-1")
    st, body = console_open(d, "con")
    assert st == 409 and "console-busy" in body
    st, body = console_open(d, "con", ro=True)
    assert st == 403 and "read-only" in body
    st, s2 = console_open(d, "con", "?force=1")
    assert st == 101
    while s1.recv(4096):                 # the first client is disconnected (after
        pass                             # what was on its way)
    s1.close()
    s2.sendall(b"pong-2\r")
    recv_until(s2, b"pong-2")
    s2.sendall(b"\x04")                  # Ctrl-D: the echo workload passes and powers off
    wait_for(lambda: info(d, "con")["state"] == "shutoff", "the guest to power off")
    assert info(d, "con")["reason"] == "shutdown"
    s2.close()
    # no pty: refused
    define(d, "nopty", serial=serial_file(d, "nopty"))
    d.api("POST", "/v1/domains/nopty/start")
    st, body = console_open(d, "nopty")
    assert st == 409 and "operation-invalid" in body and "no pty console" in body
    d.api("POST", "/v1/domains/nopty/destroy")
    st, body = console_open(d, "nopty")
    assert st == 409 and "operation-invalid" in body


def test_console_detach_and_reattach(vmkitd, kvm):
    d = vmkitd
    define(d, "con2", workload="echo")
    d.api("POST", "/v1/domains/con2/start")
    log = os.path.join(d.log_dir, "con2.log")
    # input before the guest listens would be lost: wait for its banner
    wait_for(lambda: "testguest" in open(log, errors="replace").read(), "the guest banner")
    for i in range(3):
        # a client that closed its end is never in the next one's way
        st, s = console_open(d, "con2")
        assert st == 101
        s.sendall(f"round-{i}\r".encode())
        recv_until(s, f"round-{i}".encode())
        s.close()                        # detach
    d.kill9()
    d.start()                            # the console survives a daemon restart
    st, s = console_open(d, "con2", "?force=1")
    assert st == 101
    s.sendall(b"after-restart\r")
    recv_until(s, b"after-restart")
    s.close()
    d.api("POST", "/v1/domains/con2/destroy")


# ---- statistics ----

def test_stats_move_while_the_guest_works(vmkitd, kvm):
    d = vmkitd
    define(d, "busy", workload="blk-bench", cmdline="ms=1500 span=32", memory="128",
           devices=raw_disk_xml(os.path.join(d.base, "bench.raw"), 96 << 20)
           + "<memballoon model='virtio'/>")
    define(d, "idle2")
    d.api("POST", "/v1/domains/busy/start")
    # the vCPU thread's id is known once it runs
    s1 = wait_for(lambda: (lambda s: s if s["cpu"]["vcpus"][0]["tid"] > 0 else None)(
        d.api("GET", "/v1/domains/busy/stats", ro=True)), "the vCPU thread")
    assert set(s1) == {"name", "uuid", "state", "reason", "cpu", "memory", "block", "net"}
    assert s1["state"] == "running" and s1["net"] == []
    assert len(s1["cpu"]["vcpus"]) == 1 and s1["cpu"]["vcpus"][0]["tid"] > 0
    assert s1["memory"]["max_bytes"] == 128 << 20 and s1["memory"]["rss_bytes"] > 0
    assert s1["memory"]["balloon"] is not None
    assert [b["target"] for b in s1["block"]] == ["vda"]

    def moved():
        s2 = d.api("GET", "/v1/domains/busy/stats")
        if s2["state"] != "running":
            raise AssertionError("the guest stopped before its disk counters moved")
        b1, b2 = s1["block"][0], s2["block"][0]
        return (s2["cpu"]["time_ns"] > s1["cpu"]["time_ns"] and
                b2["wr_bytes"] > b1["wr_bytes"] and b2["wr_operations"] > b1["wr_operations"])
    wait_for(moved, "cpu and disk counters to move")
    assert d.api("GET", "/v1/domains/idle2/stats") == {
        "name": "idle2", "uuid": info(d, "idle2")["uuid"], "state": "shutoff", "reason": "unknown"}
    host = d.api("GET", "/v1/host")
    assert {"hostname", "cpus", "memory_total_bytes", "memory_available_bytes", "cpu_time_ns",
            "domains_running", "domains_defined", "daemon_rss_bytes"} <= set(host)
    assert host["domains_defined"] == 2 and host["domains_running"] == 1
    assert host["daemon_rss_bytes"] > 0
    all_ = d.api("GET", "/v1/stats")
    assert set(all_) == {"host", "domains"}
    assert [x["name"] for x in all_["domains"]] == ["busy"]
    st, text = d.call("GET", "/v1/metrics")
    assert st == 200 and "# TYPE" in text and 'name="busy"' in text
    d.api("POST", "/v1/domains/busy/destroy")


def test_guest_reboot_keeps_running(vmkitd, kvm):
    d = vmkitd
    out = serial_file(d, "rb")
    define(d, "rb", workload="reset", serial=out)
    st = d.api("POST", "/v1/domains/rb/start")
    wait_for(lambda: info(d, "rb")["state"] == "shutoff", "the reset workload to finish")
    text = open(out).read()
    assert "testguest: reset: PASS" in text, text
    ev = [(e["event"], e["detail"]) for e in d.events() if e["domain"]["name"] == "rb"]
    # boots 1..4: each but the last resets; the first reset may come before
    # vmkitd listens to the VMM's events
    assert ev.count(("rebooted", "guest")) >= 2, ev
    assert ev[-1] == ("stopped", "shutdown") and ev[0] == ("defined", "added")
    assert st["id"] is not None


def test_vmm_refuses_to_start(vmkitd, kvm):
    """More memory than the host has: src/conf accepts it (under 64 TiB), the
    VMM refuses at start: 502 with the VMM's own words, shutoff/failed."""
    d = vmkitd
    define(d, "huge", memory=str(32 << 20))    # 32 TiB
    st, code, msg = err(d, "POST", "/v1/domains/huge/start")
    assert (st, code) == (502, "vmm-failed"), msg
    assert "huge.log" in msg and "memory" in msg.lower(), msg
    i = info(d, "huge")
    assert (i["state"], i["reason"], i["id"], i["pid"]) == ("shutoff", "failed", None, None)
    assert ("stopped", "failed") == (d.events()[-1]["event"], d.events()[-1]["detail"])
    assert sorted(os.listdir(d.runtime_dir)) == ["seq.last", "vmkitd-ro.sock", "vmkitd.pid", "vmkitd.sock"]


def test_memory_backing_immediate_preallocates(vmkitd, kvm):
    """<memoryBacking><allocation mode='immediate'/> starts the VMM with all
    guest RAM resident before the guest runs; without it the idle guest's
    RAM stays mostly unallocated."""
    d = vmkitd
    backing = "  <memoryBacking>\n    <allocation mode='immediate'/>\n  </memoryBacking>\n"
    define(d, "pre", memory="256", extra=backing)
    define(d, "lazy", memory="256")
    pre = d.api("POST", "/v1/domains/pre/start")["pid"]
    lazy = d.api("POST", "/v1/domains/lazy/start")["pid"]
    assert rss_anon(pre) >= 256 << 20
    assert rss_anon(lazy) <= rss_anon(pre) - (128 << 20)
    xml = d.api("GET", "/v1/domains/pre/xml")["xml"]
    assert "<allocation mode='immediate'/>" in xml


def test_runtime_dir_too_long(tmp_path):
    run = str(tmp_path / ("r" * 80))
    r = subprocess.run([VMKITD, "--foreground", "--state-dir", str(tmp_path / "s"),
                        "--runtime-dir", run, "--log-dir", str(tmp_path / "l")],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 1 and "too long" in r.stderr and "--runtime-dir" in r.stderr


def test_shutdown_timeout_and_destroy_meanwhile(vmkitd, kvm):
    """The echo workload ignores the power button: shutdown --timeout ends in
    504; a destroy is not held up by a shutdown that waits."""
    from concurrent.futures import ThreadPoolExecutor
    d = vmkitd
    define(d, "stub", workload="echo")
    d.api("POST", "/v1/domains/stub/start")
    st, code, msg = err(d, "POST", "/v1/domains/stub/shutdown", {"timeout": 1})
    assert (st, code) == (504, "timeout") and "still running" in msg
    assert info(d, "stub")["state"] == "running"
    for attempt in range(10):
        with ThreadPoolExecutor(1) as ex:
            waiting = ex.submit(d.call, "POST", "/v1/domains/stub/shutdown", {"timeout": 3600})
            gone = d.api("POST", "/v1/domains/stub/destroy")
            assert gone["state"] == "shutoff"
            status, out = waiting.result(timeout=TIMEOUT)
        if status != 409:        # 409: the destroy came first; try again
            break
        d.api("POST", "/v1/domains/stub/start")
    assert status == 200 and (out["state"], out["reason"]) == ("shutoff", "destroyed"), out


# ---- bridge interfaces: TAPs made by vmkitd (dnet) ----

@pytest.fixture
def netns_vmkitd():
    """vmkitd in a fresh network namespace holding bridge br0 (root only)."""
    import shutil
    from conftest import Vmkitd
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.fail("this test creates a network namespace and a bridge: run it as root "
                    "with iproute2")
    ns = f"vmkdd-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=30)
    d = Vmkitd(prefix=["ip", "netns", "exec", ns])
    try:
        subprocess.run(["ip", "-n", ns, "link", "add", "br0", "type", "bridge"], check=True,
                       timeout=30)
        d.start()
        d.ns = ns
        yield d
    finally:
        d.finalize()
        subprocess.run(["ip", "netns", "del", ns], timeout=30)


def taps_on_br0(ns):
    out = subprocess.run(["ip", "-n", ns, "-j", "link", "show", "master", "br0"],
                         capture_output=True, text=True, check=True, timeout=30).stdout
    return sorted(l["ifname"] for l in json.loads(out or "[]"))


def test_bridge_interface_taps(netns_vmkitd, kvm):
    d = netns_vmkitd
    nic = ("<interface type='bridge'><source bridge='br0'/><model type='virtio'/></interface>"
           "<interface type='bridge'><source bridge='br0'/><model type='virtio'/></interface>")
    define(d, "n1", devices=nic)
    define(d, "n2", devices=nic)
    d.api("POST", "/v1/domains/n1/start")
    taps = taps_on_br0(d.ns)
    assert len(taps) == 2 and all(t.startswith("vmk") for t in taps), taps
    stats = d.api("GET", "/v1/domains/n1/stats")
    assert sorted(n["target"] for n in stats["net"]) == taps
    assert "<mac address=" in d.api("GET", "/v1/domains/n1/xml?inactive=1")["xml"]
    d.api("POST", "/v1/domains/n1/destroy")
    assert taps_on_br0(d.ns) == []
    # a VMM killed while vmkitd is down: its TAPs go when vmkitd comes back
    st = d.api("POST", "/v1/domains/n2/start")
    assert len(taps_on_br0(d.ns)) == 2
    d.kill9()
    os.kill(st["pid"], signal.SIGKILL)
    wait_for(lambda: not alive(st["pid"]), "the kill")
    d.start()
    assert info(d, "n2")["state"] == "crashed"
    assert taps_on_br0(d.ns) == []
