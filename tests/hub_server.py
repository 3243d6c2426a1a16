"""A local Hugging Face hub: a threaded HTTP server that speaks the endpoints the real client calls.

`huggingface_hub` (repo info, tree listing, `hf_hub_download`, `snapshot_download`), `datasets` and the
`hf://` filesystem run unpatched against it once `HF_ENDPOINT` (the `constants` values read at import)
points here. What it answers, as huggingface.co does:

- `GET /api/{datasets|models}/{ns}/{name}[/revision/{rev}]` repo info; `?blobs=true` adds sizes, blob ids
  and `lfs.sha256` to `siblings` (the list the hub may truncate);
- `GET /api/{type}/{ns}/{name}/tree/{rev}[/{path}]?recursive=true`: the listing, paged with a `Link` header;
- `POST /api/{type}/{ns}/{name}/paths-info/{rev}`: entries of given paths (hf:// `info`);
- `HEAD|GET [/datasets]/{ns}/{name}/resolve/{rev}/{path}`: `X-Repo-Commit` and `ETag`; LFS files answer
  302 to a CDN-like URL on another host name (`localhost`) with `X-Linked-Etag` / `X-Linked-Size`;
- `GET /cdn/{sha256}`: the LFS blob, with HTTP Range reads (206);
- `GET /api/whoami-v2`.

Switches (attributes, reset per test): `fail` (an HTTP status answered to every request: 429, 500, 503),
`corrupt` (repo paths whose bytes arrive with one byte flipped),
`bad_token` (401 "Invalid credentials" to any request with a token), `missing` (repo ids answered as not
found), `gated` (repo ids whose files need accepted terms), `no_sha256` (no LFS oid in the listings),
`no_sizes`, `siblings_limit` (truncated `siblings`), `page_size` (tree pagination). Every request is recorded
with the body bytes it was sent, and whether it came through the proxy (absolute-form request line).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

LFS_SUFFIXES = (".parquet", ".safetensors", ".bin", ".pth")
PUBLIC_IN_GATED = ("README.md", ".gitattributes")  # a gated repo's card is readable before its terms are accepted


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a file (what the hub calls `oid` / `blobId`)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    repo_type: str  # "datasets" | "models"
    repo_id: str
    files: dict[str, bytes]
    sha: str

    def is_lfs(self, path: str) -> bool:
        return path.endswith(LFS_SUFFIXES)

    def sha256(self, path: str) -> str:
        return hashlib.sha256(self.files[path]).hexdigest()


@dataclass
class Request:
    method: str
    path: str
    status: int
    sent: int  # body bytes
    proxied: bool
    range: str | None = None


@dataclass
class Switches:
    fail: int | None = None
    bad_token: bool = False
    missing: set[str] = field(default_factory=set)
    gated: set[str] = field(default_factory=set)
    no_sha256: bool = False
    no_sizes: bool = False
    siblings_limit: int | None = None
    page_size: int | None = None
    corrupt: set[str] = field(default_factory=set)  # repo paths whose bytes arrive damaged (one byte flipped)


class HubServer:
    """Serves repositories over HTTP on 127.0.0.1; `url` is the endpoint, `cdn` the other host name of the same port."""

    def __init__(self) -> None:
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[Request] = []  # since the last reset
        self.history: list[Request] = []  # since the test began (`begin`), across resets
        self.switches = Switches()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.cdn = f"http://localhost:{self.port}"  # another host: the client drops auth and stops following there
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> HubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def add(self, repo_type: str, repo_id: str, files: dict[str, bytes]) -> Repo:
        """Publish `files` as `repo_id`'s main branch; the commit sha is derived from the content."""
        digest = hashlib.sha1(repr(sorted((p, hashlib.sha256(b).hexdigest()) for p, b in files.items())).encode())
        repo = Repo(repo_type, repo_id, dict(files), digest.hexdigest())
        self.repos[(repo_type, repo_id)] = repo
        return repo

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
        self.switches = Switches()

    def begin(self) -> None:
        """A new test: no switches, no requests seen."""
        self.reset()
        with self._lock:
            self.history.clear()

    # --- what the tests read -------------------------------------------------------------------------

    def record(self, req: Request) -> None:
        with self._lock:
            self.requests.append(req)
            self.history.append(req)

    @property
    def sent(self) -> int:
        """Body bytes sent since the last reset."""
        with self._lock:
            return sum(r.sent for r in self.requests)

    def fetched(self, repo: Repo) -> list[str]:
        """Repo paths whose content was sent (a resolve 200, or a CDN blob), in request order, without repeats."""
        by_sha = {repo.sha256(p): p for p in repo.files if repo.is_lfs(p)}
        out: list[str] = []
        with self._lock:
            reqs = list(self.requests)
        for r in reqs:
            if r.method != "GET" or r.status not in (200, 206):
                continue
            path = None
            if r.path.startswith("/cdn/"):
                path = by_sha.get(r.path.split("?")[0].split("/")[2])
            elif "/resolve/" in r.path:
                path = unquote(r.path.split("/resolve/", 1)[1].split("?")[0].split("/", 1)[1])
            if path and path not in out:
                out.append(path)
        return out

    def sent_for(self, repo: Repo, path: str) -> int:
        """Body bytes sent for one repo file (resolve GETs of it and its CDN blob)."""
        sha = repo.sha256(path) if repo.is_lfs(path) else None
        with self._lock:
            return sum(
                r.sent
                for r in self.requests
                if r.method == "GET"
                and ((sha and r.path.startswith(f"/cdn/{sha}")) or r.path.split("?")[0].endswith(f"/resolve/{repo.sha}/{path}"))
            )


def _handler(hub: HubServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        # --- plumbing ---------------------------------------------------------------------------------

        def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False) -> None:
            self.send_response(status)
            headers = dict(headers or {})
            headers.setdefault("Content-Length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            sent = 0
            if not head and body:
                self.wfile.write(body)
                sent = len(body)
            hub.record(Request(self.command, self._path, status, sent, self._proxied, self.headers.get("Range")))

        def _json(self, status: int, obj, headers: dict | None = None) -> None:
            body = json.dumps(obj).encode()
            self._send(status, body, {"Content-Type": "application/json", **(headers or {})}, head=self.command == "HEAD")

        def _error(self, status: int, code: str | None, message: str, repo: Repo | None = None) -> None:
            headers = {"X-Error-Message": message}
            if code:
                headers["X-Error-Code"] = code
            if repo is not None:
                headers["X-Repo-Commit"] = repo.sha
            if status == 429:
                headers["Retry-After"] = "0"
            self._json(status, {"error": message}, headers)

        def _parse(self) -> tuple[str, dict]:
            raw = self.path
            self._proxied = raw.startswith("http://") or raw.startswith("https://")
            parts = urlsplit(raw)
            self._path = parts.path + (f"?{parts.query}" if parts.query else "")
            return parts.path, parse_qs(parts.query)

        # --- methods ----------------------------------------------------------------------------------

        def do_HEAD(self) -> None:
            self._dispatch()

        def do_GET(self) -> None:
            self._dispatch()

        def do_POST(self) -> None:
            self._dispatch()

        def _dispatch(self) -> None:
            path, query = self._parse()
            sw = hub.switches
            if sw.bad_token and self.headers.get("Authorization"):
                return self._error(401, None, "Invalid credentials in Authorization header")
            if sw.fail is not None and not path.startswith("/cdn/"):
                return self._error(sw.fail, None, f"simulated {sw.fail}")
            if path == "/api/whoami-v2":
                if not self.headers.get("Authorization"):
                    return self._error(401, None, "Invalid credentials in Authorization header")
                return self._json(200, {"type": "user", "name": "tester", "auth": {"type": "access_token"}})
            if path.startswith("/cdn/"):
                return self._cdn(path.split("/")[2])
            m = re.fullmatch(r"/api/(datasets|models)/([^/]+/[^/]+)(?:/(revision|tree|paths-info)(?:/([^/]+)(?:/(.*))?)?)?", path)
            if m:
                kind, repo_id, what, rev, sub = m.groups()
                repo = self._repo(kind, repo_id, rev)
                if repo is None:
                    return None
                if what in (None, "revision"):
                    return self._info(repo, query)
                if what == "tree":
                    return self._tree(repo, unquote(sub or ""), query)
                return self._paths_info(repo)
            m = re.fullmatch(r"(/datasets)?/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
            if m:
                kind = "datasets" if m.group(1) else "models"
                repo = self._repo(kind, m.group(2), m.group(3))
                if repo is None:
                    return None
                return self._resolve(repo, unquote(m.group(4)))
            return self._error(404, None, f"no route for {path}")

        def _repo(self, kind: str, repo_id: str, rev: str | None) -> Repo | None:
            repo = hub.repos.get((kind, repo_id))
            if repo is None or repo_id in hub.switches.missing:
                # what huggingface.co answers for a missing (or private) repo
                self._error(401, "RepoNotFound", "Repository not found")
                return None
            if rev is not None and unquote(rev) not in ("main", repo.sha):
                self._error(404, "RevisionNotFound", f"Invalid rev id: {unquote(rev)}", repo)
                return None
            return repo

        def _entry(self, repo: Repo, p: str) -> dict:
            data = repo.files[p]
            entry: dict = {"type": "file", "oid": git_blob_sha1(data), "size": len(data), "path": p}
            if repo.is_lfs(p) and not hub.switches.no_sha256:
                entry["lfs"] = {"oid": repo.sha256(p), "size": len(data), "pointerSize": 134}
            if hub.switches.no_sizes:
                entry.pop("size")
                entry.pop("lfs", None)
            return entry

        def _info(self, repo: Repo, query: dict) -> None:
            siblings = []
            for p in sorted(repo.files):
                s: dict = {"rfilename": p}
                if query.get("blobs", ["false"])[0] == "true":
                    data = repo.files[p]
                    s["blobId"] = git_blob_sha1(data)
                    if not hub.switches.no_sizes:
                        s["size"] = len(data)
                        if repo.is_lfs(p):
                            s["lfs"] = {"sha256": repo.sha256(p), "size": len(data), "pointerSize": 134}
                            if hub.switches.no_sha256:
                                del s["lfs"]["sha256"]
                siblings.append(s)
            if hub.switches.siblings_limit is not None:
                siblings = siblings[: hub.switches.siblings_limit]
            self._json(
                200,
                {
                    "_id": repo.sha[:24],
                    "id": repo.repo_id,
                    "sha": repo.sha,
                    "private": False,
                    "gated": "manual" if repo.repo_id in hub.switches.gated else False,
                    "disabled": False,
                    "downloads": 0,
                    "likes": 0,
                    "tags": [],
                    "lastModified": "2024-01-01T00:00:00.000Z",
                    "createdAt": "2024-01-01T00:00:00.000Z",
                    "siblings": siblings,
                },
            )

        def _tree(self, repo: Repo, sub: str, query: dict) -> None:
            recursive = query.get("recursive", ["false"])[0] == "true"
            prefix = sub.strip("/") + "/" if sub.strip("/") else ""
            entries: list[dict] = []
            dirs: set[str] = set()
            for p in sorted(repo.files):
                if not p.startswith(prefix):
                    continue
                rest = p[len(prefix) :]
                parts = rest.split("/")
                for k in range(1, len(parts)):
                    d = prefix + "/".join(parts[:k])
                    if d not in dirs and (recursive or k == 1):
                        dirs.add(d)
                        entries.append({"type": "directory", "oid": git_blob_sha1(d.encode()), "size": 0, "path": d})
                if recursive or len(parts) == 1:
                    entries.append(self._entry(repo, p))
            start = int(query.get("cursor", ["0"])[0])
            size = hub.switches.page_size or len(entries) or 1
            page = entries[start : start + size]
            headers = {}
            if start + size < len(entries):
                base = f"{hub.url}{urlsplit(self.path).path}"
                headers["Link"] = f'<{base}?recursive={str(recursive).lower()}&cursor={start + size}>; rel="next"'
            self._json(200, page, headers)

        def _paths_info(self, repo: Repo) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            if self.headers.get("Content-Type", "").startswith("application/json"):
                paths = json.loads(body).get("paths", [])
            else:
                paths = parse_qs(body).get("paths", [])
            out = []
            for p in paths:
                p = p.strip("/")
                if p in repo.files:
                    out.append(self._entry(repo, p))
                elif any(f.startswith(p + "/") for f in repo.files):
                    out.append({"type": "directory", "oid": git_blob_sha1(p.encode()), "size": 0, "path": p})
            self._json(200, out)

        def _resolve(self, repo: Repo, path: str) -> None:
            head = self.command == "HEAD"
            if path not in repo.files:
                return self._error(404, "EntryNotFound", f"{path} does not exist", repo)
            if repo.repo_id in hub.switches.gated and path not in PUBLIC_IN_GATED:
                if self.headers.get("Authorization"):
                    return self._error(403, "GatedRepo", f"Access to {repo.repo_id} is restricted: accept its terms", repo)
                return self._error(401, "GatedRepo", f"Access to {repo.repo_id} is restricted. Please log in.", repo)
            data = repo.files[path]
            common = {"X-Repo-Commit": repo.sha, "Accept-Ranges": "bytes"}
            if repo.is_lfs(path):
                sha = repo.sha256(path)
                headers = {
                    **common,
                    "ETag": f'"{git_blob_sha1(data)}"',
                    "X-Linked-Etag": f'"{sha}"',
                    "X-Linked-Size": str(len(data)),
                    "Location": f"{hub.cdn}/cdn/{sha}?name={quote(path.rsplit('/', 1)[-1])}",
                }
                return self._send(302, b"", headers, head=True)
            return self._body(data, {**common, "ETag": f'"{git_blob_sha1(data)}"'}, head)

        def _cdn(self, sha: str) -> None:
            for repo in hub.repos.values():
                for p, data in repo.files.items():
                    if repo.is_lfs(p) and repo.sha256(p) == sha:
                        if p in hub.switches.corrupt:
                            data = data[:-100] + bytes([data[-100] ^ 0xFF]) + data[-99:]
                        return self._body(data, {"ETag": f'"{sha}"', "Accept-Ranges": "bytes"}, self.command == "HEAD")
            return self._error(404, None, "no such blob")

        def _body(self, data: bytes, headers: dict, head: bool) -> None:
            rng = self.headers.get("Range")
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng or "")
            if m and data:
                a, b = m.groups()
                if a == "":
                    start, end = max(0, len(data) - int(b)), len(data) - 1
                else:
                    start, end = int(a), min(len(data) - 1, int(b) if b else len(data) - 1)
                if start >= len(data):
                    return self._send(416, b"", {**headers, "Content-Range": f"bytes */{len(data)}"}, head=True)
                part = data[start : end + 1]
                return self._send(206, part, {**headers, "Content-Range": f"bytes {start}-{end}/{len(data)}"}, head)
            return self._send(200, data, headers, head)

    return Handler


def go_offline(monkeypatch) -> None:
    """HF_HUB_OFFLINE=1, as huggingface_hub and datasets would have read it at import (their configuration values)."""
    import datasets.config
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
