"""A stand-in for vmkitd speaking the REST API contract (docs/api.md) on two
unix sockets, for the `vmkit` CLI's tests that need no VM: it keeps domains
in memory, applies the legal-transition table, answers errors in the
API's shape, streams events and upgrades the console (echoing bytes back
upper-cased after a greeting). It records every request it got (method,
path, body) so tests can check what the CLI sent."""
import http.server
import json
import os
import re
import socketserver
import threading
import time
import urllib.parse
import uuid as uuidlib

TRANSITIONS = {  # action: (allowed states, new state, reason, event, detail)
    "start": ({"shutoff", "crashed"}, "running", "booted", "started", "booted"),
    "shutdown": ({"running"}, "shutoff", "shutdown", "stopped", "shutdown"),
    "reboot": ({"running"}, None, None, "rebooted", "guest"),
    "reset": ({"running", "paused"}, None, None, "rebooted", "reset"),
    "destroy": ({"running", "paused"}, "shutoff", "destroyed", "stopped", "destroyed"),
    "suspend": ({"running"}, "paused", "user", "suspended", "paused"),
    "resume": ({"paused"}, "running", "unpaused", "resumed", "unpaused"),
}


class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.doms = {}          # uuid -> dict
        self.events = []
        self.seq = 0
        self.next_id = 1
        self.requests = []
        self.cond = threading.Condition(self.lock)

    def event(self, dom, ev, detail):
        self.seq += 1
        self.events.append({"seq": self.seq, "time_ms": int(time.time() * 1000),
                            "domain": {"name": dom["name"], "uuid": dom["uuid"]},
                            "event": ev, "detail": detail})
        self.cond.notify_all()

    def find(self, key):
        for d in self.doms.values():
            if d["name"] == key or d["uuid"] == key:
                return d
        raise ApiError(404, "no-domain", f"no domain with name or UUID '{key}'")

    def summary(self, d):
        return {k: d[k] for k in ("id", "name", "uuid", "state", "reason", "persistent",
                                  "autostart")}

    def info(self, d):
        active = d["id"] is not None
        return dict(self.summary(d), title=None, vcpus=1, max_memory_bytes=64 << 20,
                    memory_bytes=64 << 20, cpu_time_ns=123456789 if active else 0,
                    pid=4242 if active else None, console="/dev/pts/9" if active else None,
                    log=f"/var/log/vmkit/{d['name']}.log")

    def stats(self, d):
        base = {"name": d["name"], "uuid": d["uuid"], "state": d["state"], "reason": d["reason"]}
        if d["id"] is None:
            return base
        return dict(base, cpu={"time_ns": 5, "vcpus": [{"id": 0, "tid": 1, "time_ns": 5}]},
                    memory={"max_bytes": 64 << 20, "current_bytes": 64 << 20,
                            "rss_bytes": 1 << 20, "balloon": None},
                    block=[{"target": "vda", "path": "/img", "rd_bytes": 512,
                            "wr_bytes": 0, "rd_operations": 1, "wr_operations": 0,
                            "flush_operations": 0, "errors": 0}],
                    net=[])


def parse_xml(xml):
    m = re.search(r"<name>([^<]*)</name>", xml or "")
    if not m:
        raise ApiError(400, "invalid-xml", "line 1: <domain> has no <name>")
    u = re.search(r"<uuid>([^<]*)</uuid>", xml)
    return m.group(1), (u.group(1) if u else None)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def address_string(self):
        return "unix"

    def log_message(self, *args):
        pass

    def reply(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if not raw:
            return {}
        try:
            v = json.loads(raw)
        except ValueError:
            raise ApiError(400, "invalid-json", "the request body is not JSON")
        if not isinstance(v, dict):
            raise ApiError(400, "invalid-json", "the request body is not a JSON object")
        return v

    def handle_any(self, method):
        st = self.server.state
        try:
            body = self.body() if method != "GET" else {}
            with st.lock:
                st.requests.append((method, self.path, body))
            if self.server.readonly and method != "GET":
                raise ApiError(403, "read-only", "this socket is read-only")
            if self.path.endswith("/console") or "/console?" in self.path:
                return self.console()
            if self.path.startswith("/v1/events"):
                return self.events()
            with st.lock:
                status, obj = self.route(st, method, body)
            self.reply(status, obj)
        except ApiError as e:
            self.reply(e.status, {"error": {"code": e.code, "message": e.message}})

    def route(self, st, method, body):
        path, _, query = self.path.partition("?")
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        if parts[:2] == ["v1", "version"]:
            return 200, {"version": "0.1.0", "api": 1, "vmm": "/fake/vmkit-vmm"}
        if parts == ["v1", "domains"] and method == "GET":
            doms = [d for d in st.doms.values() if d["id"] is not None or "all=1" in query]
            doms.sort(key=lambda d: (d["id"] is None, d["id"] or 0, d["name"]))
            return 200, {"domains": [st.summary(d) for d in doms]}
        if parts == ["v1", "domains"] and method == "POST":
            return self.define(st, body, create=False)
        if parts == ["v1", "domains", "create"] and method == "POST":
            return self.define(st, body, create=True)
        if parts == ["v1", "stats"]:
            return 200, {"host": {}, "domains": [st.stats(d) for d in st.doms.values()
                                                 if d["id"] is not None]}
        if len(parts) >= 3 and parts[:2] == ["v1", "domains"]:
            return self.dom_route(st, method, st.find(parts[2]), parts[3:], query, body)
        raise ApiError(404, "no-route", f"no route {path}")

    def define(self, st, body, create):
        name, u = parse_xml(body.get("xml"))
        for d in st.doms.values():
            if d["name"] == name and (u is None or d["uuid"] != u):
                raise ApiError(409, "domain-exists", f"domain '{name}' already exists "
                               f"with UUID {d['uuid']}")
        xml = body["xml"]
        if not u:   # like src/conf: the generated UUID goes into the stored document
            u = str(uuidlib.uuid4())
            xml = re.sub(r"(<name>[^<]*</name>)", r"\1\n  <uuid>" + u + "</uuid>", xml, 1)
        old = st.doms.get(u)
        d = old or {"id": None, "name": name, "uuid": u, "state": "shutoff",
                    "reason": "unknown", "persistent": not create, "autostart": False}
        d["xml"] = xml
        st.doms[u] = d
        st.event(d, "defined", "updated" if old else "added")
        if create:
            self.act(st, d, "start")
        return 201, st.summary(d)

    def act(self, st, d, action):
        allowed, state, reason, ev, detail = TRANSITIONS[action]
        if d["state"] not in allowed:
            raise ApiError(409, "operation-invalid",
                           f"domain '{d['name']}' is {d['state']}: cannot {action}")
        if state:
            d["state"], d["reason"] = state, reason
        if action == "start":
            d["id"] = st.next_id
            st.next_id += 1
        if state == "shutoff":
            d["id"] = None
        st.event(d, ev, detail)

    def dom_route(self, st, method, d, rest, query, body):
        if not rest and method == "GET":
            return 200, st.info(d)
        if not rest and method == "DELETE":
            del st.doms[d["uuid"]]
            st.event(d, "undefined", "removed")
            return 200, {}
        if rest == ["xml"]:
            return 200, {"xml": d["xml"]}
        if rest == ["stats"]:
            return 200, st.stats(d)
        if rest == ["autostart"] and method == "PUT":
            if not isinstance(body.get("autostart"), bool):
                raise ApiError(400, "invalid-argument", "'autostart' must be a boolean")
            d["autostart"] = body["autostart"]
            return 200, st.info(d)
        if len(rest) == 1 and rest[0] in TRANSITIONS and method == "POST":
            if rest[0] == "start" and body.get("paused"):
                self.act(st, d, "start")
                self.act(st, d, "suspend")
            else:
                self.act(st, d, rest[0])
            return 200, st.info(d)
        raise ApiError(404, "no-route", f"no route {self.path}")

    def events(self):
        st = self.server.state
        m = re.search(r"since=(\d+)", self.path)
        follow = "follow=0" not in self.path
        with st.lock:
            sent = int(m.group(1)) if m else st.seq
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Connection", "close")
        self.end_headers()
        while True:
            with st.lock:
                new = [e for e in st.events if e["seq"] > sent]
                if not new and follow:
                    st.cond.wait(0.2)
                    continue
            for e in new:
                self.wfile.write((json.dumps(e) + "\n").encode())
                self.wfile.flush()
                sent = e["seq"]
            if not follow:
                return

    def console(self):
        st = self.server.state
        with st.lock:
            d = st.find(urllib.parse.unquote(self.path.split("/")[3]))
            if d["id"] is None:
                raise ApiError(409, "operation-invalid", f"domain '{d['name']}' is not running")
            if self.server.console_busy and "force=1" not in self.path:
                raise ApiError(409, "console-busy", "a console client is attached")
        if self.headers.get("Upgrade") != "vmkit-console":
            raise ApiError(400, "invalid-argument", "console needs Upgrade: vmkit-console")
        self.send_response(101)
        self.send_header("Connection", "Upgrade")
        self.send_header("Upgrade", "vmkit-console")
        self.end_headers()
        self.close_connection = True
        try:
            self.wfile.write(b"console of " + d["name"].encode() + b"\r\n")
            self.wfile.flush()
            while True:
                data = self.connection.recv(4096)
                if not data:
                    break
                with st.lock:
                    st.requests.append(("CONSOLE", d["name"], data))
                self.connection.sendall(data.upper())
        except OSError:
            pass   # the client detached

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_DELETE(self):
        self.handle_any("DELETE")


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class FakeVmkitd:
    """Both sockets in directory rundir; .uri is the read-write one's."""

    def __init__(self, rundir):
        self.state = State()
        self.sock = os.path.join(rundir, "vmkitd.sock")
        self.ro_sock = os.path.join(rundir, "vmkitd-ro.sock")
        self.uri = "unix://" + self.sock
        self.servers = []
        for path, ro in ((self.sock, False), (self.ro_sock, True)):
            srv = Server(path, Handler)
            srv.state, srv.readonly, srv.console_busy = self.state, ro, False
            threading.Thread(target=srv.serve_forever, daemon=True).start()
            self.servers.append(srv)

    def set_console_busy(self, busy):
        for s in self.servers:
            s.console_busy = busy

    def requests(self):
        with self.state.lock:
            return list(self.state.requests)

    def close(self):
        for s in self.servers:
            s.shutdown()
            s.server_close()
