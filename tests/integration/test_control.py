"""The control socket: lifecycle commands, events, robustness."""
import json
import os
import socket

from conftest import guest_args


def test_idle_powerdown(vm_factory):
    vm = vm_factory(guest_args("workload=idle"))
    vm.wait_serial("testguest: idle: waiting")
    assert vm.qmp.cmd("system-powerdown") == {"return": {}}
    ev = vm.qmp.wait_event("SHUTDOWN")
    assert ev["data"] == {"guest": True, "reason": "guest-poweroff"}
    assert vm.wait() == 0, vm.stderr()
    assert "testguest: idle: PASS" in vm.serial()
    with open(vm.sock_path + ".exit") as f:
        assert json.load(f) == {"reason": "guest-poweroff", "exit-status": 0}
    assert not os.path.exists(vm.sock_path)


def test_pause_resume_quit(vm_factory):
    vm = vm_factory(guest_args("workload=idle", cpus=2))
    vm.wait_serial("testguest: idle: waiting")
    q = vm.qmp
    assert q.greeting["QMP"]["version"]["vmkit"]
    assert q.cmd("query-status")["return"]["status"] == "running"
    assert q.cmd("pause") == {"return": {}}
    q.wait_event("STOP")
    assert q.cmd("query-status")["return"] == {"status": "paused", "running": False,
                                               "boots": 1}
    assert q.cmd("resume") == {"return": {}}
    q.wait_event("RESUME")
    assert q.cmd("query-status")["return"]["running"] is True
    cpus = q.cmd("query-cpus")["return"]
    assert [c["cpu-index"] for c in cpus] == [0, 1]
    assert all(c["thread-id"] > 0 for c in cpus)
    assert q.cmd("quit") == {"return": {}}
    ev = q.wait_event("SHUTDOWN")
    assert ev["data"] == {"guest": False, "reason": "host-qmp-quit"}
    assert vm.wait() == 0


def test_identity_in_query_status(vm_factory):
    """--name/--uuid come back in query-status (the UUID lower-case); without
    them the keys are absent."""
    uuid = "C7A5FDBD-CDAF-9455-926A-D65C16DB1809"
    vm = vm_factory(guest_args("workload=idle", extra=["--name", "web 1", "--uuid", uuid]))
    vm.wait_serial("testguest: idle: waiting")
    assert vm.qmp.cmd("query-status")["return"] == {
        "status": "running", "running": True, "boots": 1, "name": "web 1",
        "uuid": uuid.lower()}
    vm.qmp.cmd("quit")
    assert vm.wait() == 0
    plain = vm_factory(guest_args("workload=idle"))
    plain.wait_serial("testguest: idle: waiting")
    st = plain.qmp.cmd("query-status")["return"]
    assert "name" not in st and "uuid" not in st
    plain.qmp.cmd("quit")
    assert plain.wait() == 0


def test_system_reset(vm_factory):
    vm = vm_factory(guest_args("workload=idle"))
    vm.wait_serial("testguest: idle: waiting")
    assert vm.qmp.cmd("system-reset") == {"return": {}}
    ev = vm.qmp.wait_event("RESET")
    assert ev["data"]["guest"] is False
    vm.qmp.cmd("query-status")
    assert vm.qmp.cmd("query-status")["return"]["boots"] == 2
    vm.qmp.cmd("quit")
    assert vm.wait() == 0


def test_errors_and_disconnects(vm_factory):
    vm = vm_factory(guest_args("workload=idle"))
    q = vm.qmp
    r = q.cmd("no-such-command")
    assert r["error"]["class"] == "CommandNotFound"
    q.sock.sendall(b"{not json\n")
    assert "error" in q._read()
    # A client that hangs up in the middle of a command changes nothing.
    for _ in range(3):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(vm.sock_path)
        s.sendall(b'{"execute": "qu')
        s.close()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(vm.sock_path)
    s.sendall(b'{"execute": "query-status"}\n')
    s.close()
    assert q.cmd("query-status")["return"]["status"] == "running"
    assert vm.proc.poll() is None
    q.cmd("quit")
    assert vm.wait() == 0


def test_sigterm_stops_cleanly(vm_factory):
    vm = vm_factory(guest_args("workload=idle"))
    vm.wait_serial("testguest: idle: waiting")
    vm.proc.terminate()
    ev = vm.qmp.wait_event("SHUTDOWN")
    assert ev["data"]["reason"] == "host-signal"
    assert vm.wait() == 0
    with open(vm.sock_path + ".exit") as f:
        assert json.load(f)["reason"] == "host-signal"


def test_triple_fault_reset_mode(vm_factory):
    vm = vm_factory(guest_args("workload=fault"))
    ev = vm.qmp.wait_event("RESET")
    assert ev["data"] == {"guest": True, "reason": "triple-fault"}
    vm.qmp.cmd("quit")
    assert vm.wait() == 0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_paused_vm_is_idle(vm_factory):
    """Parked vCPUs sleep: a paused 4-vCPU VM burns (next to) no host CPU."""
    import time
    vm = vm_factory(guest_args("workload=idle", cpus=4))
    vm.wait_serial("testguest: idle: waiting")
    assert vm.qmp.cmd("pause") == {"return": {}}
    before = cpu_seconds(vm.proc.pid)
    time.sleep(2)
    used = cpu_seconds(vm.proc.pid) - before
    assert used < 0.5, f"paused VM used {used:.2f} s of CPU in 2 s"
    vm.qmp.cmd("resume")
    vm.qmp.cmd("quit")
    assert vm.wait() == 0


def test_start_paused(vm_factory):
    """--paused: the vCPUs exist but run no guest code until "resume"."""
    import time
    vm = vm_factory(guest_args("workload=hello", extra=["--paused"]))
    assert vm.qmp.cmd("query-status")["return"]["status"] == "paused"
    assert [c["cpu-index"] for c in vm.qmp.cmd("query-cpus")["return"]] == [0]
    time.sleep(1)   # time enough for hello to run, were it let
    assert vm.serial() == "" and vm.proc.poll() is None
    assert vm.qmp.cmd("resume") == {"return": {}}
    vm.qmp.wait_event("RESUME")
    assert vm.wait() == 0, vm.stderr()
    assert "testguest: hello: PASS" in vm.serial()
