"""A Hugging Face hub stand-in on loopback for scripts/test-image and scripts/test-openai-client: serves
the files of a local hub cache in the hub's URL layout (HEAD and GET /{repo}/resolve/{revision}/{file},
with X-Repo-Commit, the LFS ETag and byte ranges; GET /api/models/{repo}/tree/{revision}, which a
`REPO:QUANT` pull lists), so `gemmactl pull` or a server's model management run with HF_ENDPOINT
pointing here downloads as from the hub.

    python hf_stand_in.py HUB_CACHE_DIR PORT_FILE

Binds 127.0.0.1 on a port the OS picks and writes it to PORT_FILE once it listens.
"""
import http.server
import json
import os
import re
import sys
import urllib.parse

HUB = sys.argv[1]
RESOLVE = re.compile(r"^/(?P<org>[^/]+)/(?P<name>[^/]+)/resolve/(?P<revision>[^/]+)/(?P<file>.+)$")
TREE = re.compile(r"^/api/models/(?P<org>[^/]+)/(?P<name>[^/]+)/tree/(?P<revision>[^/]+)$")


def snapshot_dir(org, name, revision):
    """The snapshot folder a revision (a ref or a commit) names, and its commit."""
    repo_dir = os.path.join(HUB, f"models--{org}--{name}")
    ref = os.path.join(repo_dir, "refs", revision)
    if os.path.isfile(ref):
        with open(ref) as handle:
            revision = handle.read().strip()
    return os.path.join(repo_dir, "snapshots", revision), revision


def tree(path):
    """The hub's file list of a snapshot as JSON, or None."""
    match = TREE.match(urllib.parse.unquote(path))
    if not match:
        return None
    folder, _ = snapshot_dir(match["org"], match["name"], match["revision"])
    if not os.path.isdir(folder):
        return None
    entries = [{"type": "file", "path": name, "size": os.path.getsize(os.path.join(folder, name))}
               for name in sorted(os.listdir(folder)) if os.path.isfile(os.path.join(folder, name))]
    return json.dumps(entries).encode()


def locate(path):
    """The cached snapshot file a resolve URL names, its commit and its blob's sha256, or None."""
    match = RESOLVE.match(urllib.parse.unquote(path))
    if not match:
        return None
    folder, revision = snapshot_dir(match["org"], match["name"], match["revision"])
    snapshot_file = os.path.join(folder, match["file"])
    if not os.path.isfile(snapshot_file):
        return None
    blob = os.path.basename(os.path.realpath(snapshot_file))
    return snapshot_file, revision, blob


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, with_body):
        listing = tree(urllib.parse.urlsplit(self.path).path)
        if listing is not None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(listing)))
            self.end_headers()
            if with_body:
                self.wfile.write(listing)
            return
        found = locate(urllib.parse.urlsplit(self.path).path)
        if found is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, commit, blob = found
        size = os.path.getsize(path)
        start = 0
        ranged = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if ranged and with_body:
            start = int(ranged[1])
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(size - start))
        self.send_header("X-Repo-Commit", commit)
        self.send_header("ETag", f'"{blob}"')
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if with_body:
            with open(path, "rb") as handle:
                handle.seek(start)
                while chunk := handle.read(1 << 20):
                    self.wfile.write(chunk)

    def do_HEAD(self):
        self.answer(with_body=False)

    def do_GET(self):
        self.answer(with_body=True)

    def log_message(self, format, *args):
        sys.stderr.write("hf-stand-in: " + format % args + "\n")


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[2] + ".tmp", "w") as port_file:
    port_file.write(str(server.server_address[1]))
os.replace(sys.argv[2] + ".tmp", sys.argv[2])
server.serve_forever()
