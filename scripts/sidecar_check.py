"""Runs the auth sidecar's rendered nginx.conf and Lua under real nginx and checks what it promises.

usage: sidecar_check.py RENDERED.yaml NGINX_MODULE_DIR WORK_DIR

The ConfigMap's files are used as rendered; only paths and ports change (listen port, upstream port, key
directory, Lua directory, pid, temp and log paths), plus `load_module` lines for Debian's Lua module.
A loopback stand-in for llama-server records what reaches it. Every wait is on an event or a condition
with a deadline, never a fixed sleep. Exits non-zero on the first failed check.
"""
import base64
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import yaml

SLOTS_MARKER = "n_ctx_marker_from_the_backend"
CURRENT, NEXT, THIRD = "key-current-0123456789abcdef", "key-next-fedcba9876543210", "k3"
WRONG = "key-wrong-0123456789abcdef"


def fail(message):
    print("FAIL " + message)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)
    print("ok   " + message)


class Backend(http.server.ThreadingHTTPServer):
    """llama-server's stand-in: /health, /slots (busy or not), and a chat stream that sends its first
    chunk, then waits until the test releases it before sending the rest."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # nginx closing an idle upstream connection
            super().handle_error(request, client_address)

    def __init__(self):
        super().__init__(("127.0.0.1", 0), BackendHandler)
        self.busy = False
        self.authorizations = []
        self.release = threading.Event()
        self.finished = threading.Event()


class BackendHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def record(self):
        self.server.authorizations.append((self.path, self.headers.get("Authorization")))

    def do_GET(self):
        self.record()
        if self.path == "/health":
            self.reply(200, {"status": "ok"})
        elif self.path.startswith("/slots"):
            slots = [{"id": 0, "is_processing": self.server.busy, SLOTS_MARKER: 4096}]
            failing = "fail_on_no_slot=1" in self.path and self.server.busy
            self.reply(503 if failing else 200, {"error": {"message": "no slot available"}, "slots": slots} if failing else slots)
        else:
            self.reply(200, {"object": "list", "data": [{"id": "gemma"}]})

    def do_POST(self):
        self.record()
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(text):
            data = text.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        chunk('data: {"choices":[{"delta":{"content":"first"}}]}\n\n')
        # Held until the client has seen the first chunk (or 20 s: then the check below fails).
        self.server.release.wait(20)
        self.server.finished.set()
        chunk('data: {"choices":[{"delta":{"content":"second"}}]}\n\ndata: [DONE]\n\n')
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def adapt(conf, replacements):
    """Each (pattern, replacement, expected count) must match exactly that often: a template change that
    moves a path shows up here rather than as a silently untested line."""
    for pattern, replacement, count in replacements:
        conf, n = re.subn(pattern, replacement, conf)
        if n != count:
            fail("adapting nginx.conf: %r matched %d times, expected %d" % (pattern, n, count))
    return conf


def kubelet_secret(directory, version, items):
    """Writes a Secret volume as the kubelet does: files in a timestamped directory, `..data` a symlink to
    it swapped atomically by rename, and one top-level symlink per item into `..data`."""
    payload = os.path.join(directory, "..%s" % version)
    os.makedirs(payload)
    for name, value in items.items():
        with open(os.path.join(payload, name), "w") as f:
            f.write(value + "\n")
        os.chmod(os.path.join(payload, name), 0o444)
    old = os.path.realpath(os.path.join(directory, "..data")) if os.path.islink(os.path.join(directory, "..data")) else None
    os.symlink(os.path.basename(payload), os.path.join(directory, "..data_tmp"))
    os.rename(os.path.join(directory, "..data_tmp"), os.path.join(directory, "..data"))
    for name in os.listdir(directory):
        if not name.startswith("..") and name not in items:
            os.unlink(os.path.join(directory, name))
    for name in items:
        if not os.path.lexists(os.path.join(directory, name)):
            os.symlink(os.path.join("..data", name), os.path.join(directory, name))
    if old:
        shutil.rmtree(old)


def main():
    rendered, module_dir, work = sys.argv[1:4]
    objects = [o for o in yaml.safe_load_all(open(rendered)) if o]
    config = next(o for o in objects if o["kind"] == "ConfigMap")["data"]
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    sidecar = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "auth-proxy")
    port = sidecar["ports"][0]["containerPort"]
    mounts = {m["name"]: m["mountPath"] for m in sidecar["volumeMounts"]}
    upstream = re.search(r"proxy_pass http://127\.0\.0\.1:(\d+);", config["nginx.conf"]).group(1)

    backend = Backend()
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    listen = free_port()

    for sub in ("conf", "secret", "tmp"):
        os.makedirs(os.path.join(work, sub))
    with open(os.path.join(work, "conf", "bearer_auth.lua"), "w") as f:
        f.write(config["bearer_auth.lua"])
    secret_dir = os.path.join(work, "secret")
    kubelet_secret(secret_dir, "2026_01_01_00_00_00.1", {"api-key": CURRENT})

    conf = adapt(config["nginx.conf"], [
        (r"listen %d;" % port, "listen 127.0.0.1:%d;" % listen, 1),
        (r"127\.0\.0\.1:%s\b" % upstream, "127.0.0.1:%d" % backend.server_address[1], 3),
        (re.escape(mounts["api-key"]), secret_dir, 1),
        (re.escape(mounts["auth-config"]) + "/", os.path.join(work, "conf") + "/", 1),
        (r"pid /tmp/nginx\.pid;", "pid %s/nginx.pid;" % work, 1),
        (r"(_temp_path) /tmp/", r"\1 %s/tmp/" % work, 5),
        (r"access_log /dev/stdout ", "access_log %s/access.log " % work, 1),
        (r"error_log stderr ", "error_log %s/error.log " % work, 1),
    ])
    conf = "load_module %s/ndk_http_module.so;\nload_module %s/ngx_http_lua_module.so;\n%s" % (module_dir, module_dir, conf)
    conf_path = os.path.join(work, "conf", "nginx.conf")
    with open(conf_path, "w") as f:
        f.write(conf)

    # As the pod runs it: uid 65532, in the foreground. (As root, setpriv drops to that uid.)
    command = ["nginx", "-p", work + "/", "-c", conf_path, "-e", os.path.join(work, "error.log"), "-g", "daemon off;"]
    if os.getuid() == 0:
        for root, dirs, files in os.walk(work):
            for name in dirs + files:
                os.lchown(os.path.join(root, name), 65532, 65532)
        os.chown(work, 65532, 65532)
        command = ["setpriv", "--reuid=65532", "--regid=65532", "--clear-groups"] + command
    nginx = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            if nginx.poll() is not None:
                log = open(os.path.join(work, "error.log")).read() if os.path.exists(os.path.join(work, "error.log")) else ""
                fail("nginx exited with %s: %s%s" % (nginx.returncode, nginx.stdout.read().decode(), log))
            try:
                socket.create_connection(("127.0.0.1", listen), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    fail("nginx did not listen on %d within 20 s" % listen)
                time.sleep(0.05)
        run_checks(listen, backend, secret_dir)
    finally:
        nginx.send_signal(signal.SIGQUIT)
        try:
            nginx.wait(10)
        except subprocess.TimeoutExpired:
            nginx.kill()
    logs = {name: open(os.path.join(work, name)).read() for name in ("access.log", "error.log")}
    check("/v1/models" in logs["access.log"], "the access log records requests")
    sent = [CURRENT, NEXT, THIRD, WRONG, base64.b64encode((CURRENT + ":").encode()).decode()]
    for name, text in logs.items():
        check(not any(key in text for key in sent), "no key (nor a Basic credential holding one) in nginx's %s" % name)
    print("all sidecar checks passed")


def request(listen, method, path, authorization=None, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", listen, timeout=30)
    headers = {"Authorization": authorization} if authorization else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    data = response.read().decode()
    connection.close()
    return response.status, dict(response.getheaders()), data


def status(listen, key, scheme="Bearer"):
    return request(listen, "GET", "/v1/models", "%s %s" % (scheme, key) if key is not None else None)[0]


def run_checks(listen, backend, secret_dir):
    code, headers, _ = request(listen, "GET", "/v1/models")
    check(code == 401 and headers.get("WWW-Authenticate", "").startswith("Bearer"), "401 with WWW-Authenticate: Bearer without a key")
    check(status(listen, WRONG) == 401, "401 with a wrong key")
    check(status(listen, CURRENT + "x") == 401 and status(listen, CURRENT[:-1]) == 401, "401 with a key one character longer or shorter")
    check(status(listen, CURRENT) == 200, "200 with the key")
    check(status(listen, CURRENT, "BEARER") == 200 and status(listen, CURRENT, "bearer") == 200, "the Bearer scheme is case-insensitive")
    check(status(listen, CURRENT, "Token") == 401, "401 with another scheme")
    basic = base64.b64encode((CURRENT + ":").encode()).decode()
    check(request(listen, "GET", "/v1/models", "Basic " + basic)[0] == 401, "401 with the key as a Basic user name")
    check(all(auth is None for _, auth in backend.authorizations), "the backend never sees an Authorization header")

    backend.authorizations.clear()
    code, _, body = request(listen, "GET", "/health", "Bearer " + CURRENT)
    check(code == 200, "/health answers 200 without checking a key")
    code, _, body = request(listen, "GET", "/ready", "Bearer " + CURRENT)
    check(code == 200 and json.loads(body) == {"status": "ready"}, "/ready answers 200 and only a status while a slot is free")
    check(request(listen, "HEAD", "/ready")[0] == 200, "HEAD /ready answers 200")
    backend.busy = True
    code, _, body = request(listen, "GET", "/ready")
    check(code == 503 and json.loads(body) == {"status": "unavailable"} and SLOTS_MARKER not in body,
          "/ready answers 503 and only a status while every slot is busy (no /slots JSON)")
    backend.busy = False
    check(any(path.startswith("/slots") for path, _ in backend.authorizations), "/ready asked the backend's /slots")
    check(all(auth is None for _, auth in backend.authorizations), "/health and /ready pass no Authorization header on")

    # Streaming: the first chunk must reach the client while the backend still holds the rest.
    connection = http.client.HTTPConnection("127.0.0.1", listen, timeout=30)
    connection.request("POST", "/v1/chat/completions", body='{"stream":true}',
                       headers={"Authorization": "Bearer " + CURRENT, "Content-Type": "application/json"})
    response = connection.getresponse()
    check(response.status == 200, "a streamed chat with the key gets 200")
    # Raw lines (nginx re-chunks the stream): chunk sizes and blank lines until the first event.
    first = b""
    while not first.startswith(b"data:"):
        first = response.fp.readline()
        if not first:
            fail("the stream ended before its first event")
    check(b"first" in first and not backend.finished.is_set(), "the first chunk arrives before the backend finishes (no buffering)")
    backend.release.set()
    rest = b""
    while b"[DONE]" not in rest:
        line = response.fp.readline()
        if not line:
            break
        rest += line
    check(b"second" in rest and b"[DONE]" in rest, "the rest of the stream follows")
    connection.close()

    # Rotation as the kubelet does it: a new payload directory, ..data swapped, no reload.
    kubelet_secret(secret_dir, "2026_01_02_00_00_00.2", {"api-key": NEXT, "api-key-previous": CURRENT})
    check(status(listen, NEXT) == 200, "the rotated key is accepted without a reload")
    check(status(listen, CURRENT) == 200, "the previous key is still accepted while api-key-previous holds it")
    check(status(listen, WRONG) == 401, "a wrong key is still refused during the rotation")
    kubelet_secret(secret_dir, "2026_01_03_00_00_00.3", {"api-key": THIRD})
    check(status(listen, THIRD) == 200 and status(listen, NEXT) == 401 and status(listen, CURRENT) == 401,
          "once api-key-previous is gone, only the current key is accepted (a short key too)")


if __name__ == "__main__":
    main()
