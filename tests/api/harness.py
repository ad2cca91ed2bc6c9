# SPDX-License-Identifier: Apache-2.0
"""harness.py - drives real kanri servers for the API suite.

A Site is one data folder plus, while started, one `kanri serve` process on a
free loopback port. The suite's main site (the `ctx` every test receives) has
the users admin, alice (agent), eve (enduser, acme), mallory (enduser, globex)
and audrey (auditor), each with an API token. Tests that need a fresh folder,
an overlay, a config or a restart open their own site with ctx.new_site().

Every CLI run and every server is watched for sanitizer reports; a server that
dies, hangs on stop or prints a sanitizer report fails the test that owns it.
Python 3 standard library only.
"""

import contextlib
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("KANRI_BIN", "build/kanri")
if not os.path.isabs(BIN):
    BIN = os.path.join(ROOT, BIN)

ADMIN = "admin"
ADMIN_PASSWORD = "Adm1n-pass-for-tests!"
API = "/api/v1"

SANITIZER_RE = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|ThreadSanitizer)"
    r"|SUMMARY: (Address|Leak|UndefinedBehavior|Thread)Sanitizer"
    r"|runtime error: ")

MISSING = object()


def san_excerpt(text):
    """The first sanitizer report in text, cut to its head and summary."""
    m = SANITIZER_RE.search(text)
    if not m:
        return ""
    start = text.rfind("\n", 0, m.start()) + 1
    lines = text[start:].splitlines()
    head = [ln for ln in lines[:16] if ln.strip() and not set(ln.strip()) <= {"="}]
    summary = [ln for ln in lines[16:] if ln.startswith("SUMMARY:")]
    # Each leak's first frame in kanri's own code, once.
    origins, in_leak = [], False
    for ln in lines:
        if re.match(r"(Direct|Indirect) leak", ln):
            in_leak = True
        elif in_leak and re.search(r" (src|tests)/", ln):
            o = ln.split(" in ", 1)[-1].strip()
            if o not in origins:
                origins.append(o)
            in_leak = False
    extra = ["leaks from: " + "; ".join(origins)] if len(origins) > 1 else []
    return "\n".join(head + (["..."] if summary else []) + summary[:3] + extra)


class Failure(Exception):
    """A test's expectation did not hold."""


# ---- assertions -----------------------------------------------------------

def fail(msg):
    raise Failure(msg)


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def eq(got, want, what):
    if got != want:
        raise Failure("%s: expected %r, got %r" % (what, want, got))


def short(b, n=400):
    if isinstance(b, bytes):
        b = b.decode("utf-8", "replace")
    b = b.replace("\n", "\\n")
    return b if len(b) <= n else b[:n] + "..."


# ---- HTTP -----------------------------------------------------------------

class Response:
    def __init__(self, method, path, status, headers, body):
        self.method = method
        self.path = path
        self.status = status
        self.headers = headers  # list of (name, value)
        self.body = body
        self.json = None
        if body:
            try:
                self.json = json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                self.json = None

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    @property
    def ctype(self):
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    def __str__(self):
        return "%s %s -> %s %s" % (self.method, self.path, self.status, short(self.body))

    def expect(self, *codes):
        """Fail unless the status is one of codes; returns self."""
        if self.status not in codes:
            raise Failure("expected %s: %s" % ("/".join(map(str, codes)), self))
        return self

    def problem(self, status, field=None, *, fields=None):
        """Fail unless this is an application/problem+json answer with status
        that names `field` (in "field", or in "detail" when there is no "field").
        fields: accept any of several names."""
        self.expect(status)
        eq(self.ctype, "application/problem+json", "content type of %s" % self)
        j = self.json
        check(isinstance(j, dict), "problem body is not an object: %s" % self)
        eq(j.get("status"), status, "problem status of %s" % self)
        check(isinstance(j.get("title"), str) and j.get("title"), "problem has no title: %s" % self)
        names = list(fields or []) + ([field] if field else [])
        if names:
            named = j.get("field")
            detail = str(j.get("detail") or "")
            ok = named in names or any(n in detail for n in names)
            check(ok, "problem should name %s: %s" % (" or ".join(names), self))
        return self


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_request(port, method, path, body=None, headers=None, timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return Response(method, path, r.status, r.getheaders(), data)
    finally:
        conn.close()


def raw_request(port, head, body_chunks, timeout=30):
    """Send head (bytes) and the body chunks from a second thread while this
    one reads, so that an early answer (413 before the body is read) is seen
    even when the server stops reading. Returns a Response or fails."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def sender():
        try:
            s.sendall(head)
            for c in body_chunks:
                s.sendall(c)
        except OSError:
            pass

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    data = b""
    try:
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                hdr, _, rest = data.partition(b"\r\n\r\n")
                m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", hdr)
                if m and len(rest) >= int(m.group(1)):
                    break
    except socket.timeout:
        pass
    finally:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()
    t.join(5)
    if b"\r\n\r\n" not in data:
        raise Failure("no HTTP answer (got %r)" % data[:200])
    hdr, _, rest = data.partition(b"\r\n\r\n")
    lines = hdr.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = []
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers.append((k.strip(), v.strip()))
    return Response("RAW", head.split(b"\r\n")[0].decode("latin-1"), status, headers, rest)


def etag_of(version):
    return '"%d"' % version


# ---- journal helpers --------------------------------------------------------

def change_of(entry, field):
    """(old, new) of field in a journal entry's changes, or MISSING. Accepts
    {"f": [old, new]}, {"f": {"old":..,"new":..}}, {"f": new} and
    [{"field": "f", "old":.., "new":..}]."""
    ch = entry.get("changes")
    if isinstance(ch, dict):
        if field not in ch:
            return MISSING
        v = ch[field]
        if isinstance(v, list) and len(v) == 2:
            return (v[0], v[1])
        if isinstance(v, dict) and ("new" in v or "old" in v or "to" in v or "from" in v):
            return (v.get("old", v.get("from")), v.get("new", v.get("to")))
        return (None, v)
    if isinstance(ch, list):
        for c in ch:
            if isinstance(c, dict) and (c.get("field") == field or c.get("name") == field):
                return (c.get("old", c.get("from")), c.get("new", c.get("to")))
    return MISSING


# ---- sites ------------------------------------------------------------------

class Site:
    """A data folder and, when started, its server."""

    def __init__(self, name, keep=False):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="kanri-api-%s-" % name)
        self.data = os.path.join(self.dir, "data")
        self.tokens = {}
        self.passwords = {ADMIN: ADMIN_PASSWORD}
        self.proc = None
        self.port = None
        self.starts = 0
        self.err_path = None
        self.out_path = None
        self.err_seen = 0
        self.listen_line_missing = False
        self.notes = []
        self.keep = keep

    # -- CLI --
    def cli(self, *args, env=None, input=None, timeout=120):
        """Run the kanri binary; returns CompletedProcess (text). Fails the test
        when the run printed a sanitizer report."""
        e = dict(os.environ)
        e.pop("KANRI_ADMIN_PASSWORD", None)
        e.pop("KANRI_PASSWORD", None)
        e.update(env or {})
        try:
            p = subprocess.run([BIN] + [str(a) for a in args], env=e, cwd=self.dir,
                               input=input if input is not None else "",
                               capture_output=True, text=True, timeout=timeout,
                               errors="replace")
        except subprocess.TimeoutExpired:
            fail("kanri %s did not finish within %d s" % (" ".join(map(str, args)), timeout))
        if SANITIZER_RE.search(p.stderr) or SANITIZER_RE.search(p.stdout):
            fail("sanitizer report from kanri %s:\n%s" % (" ".join(map(str, args)),
                                                        san_excerpt(p.stderr + p.stdout)))
        return p

    def cli_ok(self, *args, **kw):
        p = self.cli(*args, **kw)
        if p.returncode != 0:
            fail("kanri %s exited %d: %s" % (" ".join(map(str, args)), p.returncode,
                                            short(p.stderr or p.stdout)))
        return p

    def init(self):
        self.cli_ok("init", "--data", self.data, env={"KANRI_ADMIN_PASSWORD": ADMIN_PASSWORD})
        self.tokens[ADMIN] = self.create_token(ADMIN)

    def add_user(self, name, role, org=None, password=None, token=True):
        password = password or ("Pw-%s-0123456789" % name)
        args = ["user", "add", "--data", self.data, "--name", name, "--role", role]
        if org:
            args += ["--org", org]
        self.cli_ok(*args, env={"KANRI_PASSWORD": password})
        self.passwords[name] = password
        if token:
            self.tokens[name] = self.create_token(name)

    def create_token(self, name):
        p = self.cli_ok("token", "create", "--data", self.data, "--user", name)
        lines = [ln.strip() for ln in p.stdout.splitlines() if ln.strip()]
        check(lines, "kanri token create printed no token")
        return lines[-1]

    def write_overlay(self, filename, decl):
        d = os.path.join(self.data, "schema")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, filename), "w", encoding="utf-8") as f:
            json.dump(decl, f, ensure_ascii=False, indent=1)

    def write_config(self, **keys):
        path = os.path.join(self.data, "config.json")
        cfg = {}
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                try:
                    cfg = json.load(f)
                except ValueError:
                    cfg = {}
        cfg.update(keys)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(cfg, f, indent=1)

    def db(self):
        return os.path.join(self.data, "kanri.db")

    # -- server --
    def start(self, listen_arg=True, port=None, timeout=40):
        check(self.proc is None, "site %s already started" % self.name)
        last = ""
        for _ in range(3):
            self.port = port or free_port()
            self.starts += 1
            self.out_path = os.path.join(self.dir, "serve%d.out" % self.starts)
            self.err_path = os.path.join(self.dir, "serve%d.err" % self.starts)
            self.err_seen = 0
            args = [BIN, "serve", "--data", self.data]
            if listen_arg:
                args += ["--listen", "127.0.0.1:%d" % self.port]
            with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
                self.proc = subprocess.Popen(args, stdout=out, stderr=err,
                                             stdin=subprocess.DEVNULL, cwd=self.dir)
            want = "kanri listening on http://127.0.0.1:%d" % self.port
            t0 = time.time()
            healthy_at = None
            while time.time() - t0 < timeout:
                if self.proc.poll() is not None:
                    break
                if want in self._read(self.out_path):
                    return self
                if time.time() - t0 > 0.5:
                    if healthy_at is None and self._healthy():
                        healthy_at = time.time()
                    if healthy_at is not None and time.time() - healthy_at > 2:
                        # Answers, but never said so on stdout.
                        self.listen_line_missing = True
                        return self
                time.sleep(0.02)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
                self.proc = None
                fail("kanri serve did not become ready within %d s: %s" %
                     (timeout, short(self._read(self.err_path)[-2000:])))
            last = self._read(self.err_path)
            rc = self.proc.returncode
            self.proc = None
            if SANITIZER_RE.search(last):
                fail("kanri serve crashed at start with a sanitizer report:\n" + san_excerpt(last))
            if port is None and re.search(r"(?i)in use|bind", last):
                continue  # lost a port race; try another
            fail("kanri serve exited %s at start: %s" % (rc, short(last[-2000:])))
        fail("kanri serve could not bind a port: " + short(last))

    def _read(self, path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _healthy(self):
        try:
            return http_request(self.port, "GET", API + "/health", timeout=2).status == 200
        except OSError:
            return False

    def new_stderr(self):
        """Server stderr not yet looked at."""
        if not self.err_path:
            return ""
        text = self._read(self.err_path)
        new = text[self.err_seen:]
        self.err_seen = len(text)
        return new

    def health_problems(self):
        """Problems seen since the last call: died, sanitizer output."""
        problems = []
        err = self.new_stderr()
        if SANITIZER_RE.search(err):
            problems.append("sanitizer report on server stderr:\n" + san_excerpt(err))
        if self.proc is not None and self.proc.poll() is not None:
            problems.append("server died (exit %s): %s" % (self.proc.returncode,
                                                        short(self._read(self.err_path)[-2000:])))
            self.proc = None
        return problems

    def answers(self):
        """True when the server answers /health within a few seconds."""
        for _ in range(3):
            try:
                if http_request(self.port, "GET", API + "/health", timeout=5).status == 200:
                    return True
            except (OSError, http.client.HTTPException):
                pass
        return False

    def kill(self):
        """Kill a hung server (SIGABRT first, for a sanitizer stack); returns its stderr tail."""
        p = self.proc
        self.proc = None
        if p is None or p.poll() is not None:
            return "already gone"
        p.send_signal(signal.SIGABRT)
        p.send_signal(signal.SIGCONT)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        return short(self._read(self.err_path)[-1500:])

    def stop(self):
        """Stop the server; returns a list of problems (empty when clean)."""
        problems = []
        if self.proc is None:
            return problems
        p = self.proc
        if p.poll() is not None:
            problems.append("server had died (exit %s)" % p.returncode)
        else:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                problems.append("server did not stop within 20 s of SIGTERM")
            if p.returncode not in (0, -signal.SIGTERM):
                problems.append("server exited %s after SIGTERM" % p.returncode)
        self.proc = None
        err = self._read(self.err_path)
        if SANITIZER_RE.search(err):
            problems.append("sanitizer report on server stderr:\n" + san_excerpt(err))
        return problems

    def stop_ok(self):
        problems = self.stop()
        if problems:
            fail("; ".join(problems))

    def restart(self, **kw):
        self.stop_ok()
        return self.start(**kw)

    def cleanup(self):
        self.stop()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- requests --
    def request(self, method, path, body=None, user=ADMIN, headers=None, data=None,
                ctype="application/json", token=None, ascii=False, timeout=30):
        """One request. path is below /api/v1 unless it starts with /api/.
        body: JSON-encoded (as UTF-8, or \\u-escaped with ascii=True); data:
        raw bytes instead. user: whose token to send (None: no credentials);
        token overrides it."""
        check(self.proc is not None, "server of site %s is not running" % self.name)
        if not path.startswith("/api/"):
            path = API + path
        h = {}
        if token is None and user is not None:
            token = self.tokens[user]
        if token is not None:
            h["Authorization"] = "Bearer " + token
        if body is not None:
            data = json.dumps(body, ensure_ascii=ascii).encode("utf-8")
        if data is not None and ctype:
            h["Content-Type"] = ctype
        h.update(headers or {})
        try:
            return http_request(self.port, method, path, body=data, headers=h, timeout=timeout)
        except (OSError, http.client.HTTPException) as e:
            fail("%s %s: no answer (%s: %s)" % (method, path, type(e).__name__, e))

    def get(self, path, user=ADMIN, **kw):
        return self.request("GET", path, user=user, **kw)

    def post(self, path, body=None, user=ADMIN, **kw):
        return self.request("POST", path, body=body, user=user, **kw)

    def patch(self, path, body, version=None, user=ADMIN, headers=None, **kw):
        h = dict(headers or {})
        if version is not None:
            h["If-Match"] = etag_of(version)
        return self.request("PATCH", path, body=body, user=user, headers=h, **kw)

    def delete(self, path, user=ADMIN, **kw):
        return self.request("DELETE", path, user=user, **kw)

    def transition(self, ref, to, user="alice", plural="incidents", **fields):
        body = dict(fields)
        body["to"] = to
        return self.post("/%s/%s/transition" % (plural, ref), body, user=user)

    def create(self, plural, body, user=ADMIN):
        r = self.post("/" + plural, body, user=user)
        if r.status != 201:
            fail("create %s: %s" % (plural, r))
        check(isinstance(r.json, dict), "create %s: body is not an object: %s" % (plural, r))
        return r.json

    def incident(self, user="alice", **fields):
        """Create an incident (title defaulted) and return it."""
        fields.setdefault("title", "Incident %s" % time.time())
        return self.create("incidents", fields, user=user)

    def record(self, ref, user=ADMIN, plural="incidents"):
        r = self.get("/%s/%s" % (plural, ref), user=user).expect(200)
        return r.json

    def journal(self, ref, user=ADMIN, plural="incidents"):
        r = self.get("/%s/%s/journal" % (plural, ref), user=user).expect(200)
        check(isinstance(r.json, dict) and isinstance(r.json.get("items"), list),
              "journal is not {items: [...]}: %s" % r)
        return r.json["items"]

    def total(self, query="", user=ADMIN, plural="incidents"):
        r = self.get("/%s?%s" % (plural, query), user=user).expect(200)
        return r.json["total"]

    def list_all(self, query, user=ADMIN, plural="incidents", limit=500):
        """Every item of a filtered list, following the cursor."""
        items = []
        q = query + ("&" if query else "") + "limit=%d" % limit
        r = self.get("/%s?%s" % (plural, q), user=user).expect(200)
        for _ in range(1000):
            items += r.json["items"]
            nxt = r.json.get("next")
            if not nxt:
                return items
            r = self.get("/%s?%s&cursor=%s" % (plural, q, urlq(nxt)), user=user).expect(200)
        fail("list never ended")

    def sha(self, path):
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()


def urlq(s):
    from urllib.parse import quote
    return quote(str(s), safe="")


class Context(Site):
    """The main site plus the means to open other sites."""

    def __init__(self):
        super().__init__("main", keep=bool(os.environ.get("KANRI_KEEP")))
        self.extra = []

    def setup(self):
        self.init()
        self.add_user("alice", "agent")
        self.add_user("bob", "agent")
        self.add_user("eve", "enduser", org="acme")
        self.add_user("erin", "enduser", org="acme")
        self.add_user("mallory", "enduser", org="globex")
        self.add_user("audrey", "auditor")
        self.add_user("tess", "agent")  # the throttling test locks her out
        self.start()

    @contextlib.contextmanager
    def new_site(self, name, users=(), start=True, init=True, overlays=None, config=None):
        """A fresh site: initialised (admin + token), users [(name, role, org)],
        overlays {filename: declaration}, config {key: value}; started unless
        start=False. Stopped and removed on exit; a server problem fails the test."""
        s = Site(name, keep=self.keep)
        try:
            if init:
                s.init()
                for u in users:
                    s.add_user(*u)
                for fn, decl in (overlays or {}).items():
                    s.write_overlay(fn, decl)
                if config:
                    s.write_config(**config)
                if start:
                    s.start()
            yield s
            problems = s.stop()
            if problems:
                fail("site %s: %s" % (name, "; ".join(problems)))
        finally:
            s.cleanup()


def unique(prefix="t"):
    """A short tag unlikely to occur anywhere else."""
    unique.n += 1
    return "%s%x%03d" % (prefix, int(time.time() * 1000) % 0xFFFFFF, unique.n)


unique.n = 0
