# SPDX-License-Identifier: Apache-2.0
"""harness.py - drives real kanri servers for the API suite.

A Site is one data folder plus, while started, one `kanri serve` process on a
free loopback port. The suite's main site (the `ctx` every test receives) has
the users admin, alice (agent), eve (enduser, acme), mallory (enduser, globex)
and audrey (auditor), each with an API token. Tests that need a fresh folder,
an overlay, a config or a restart open their own site with ctx.new_site().

Every CLI run and every server is watched for sanitizer reports; a server that
dies, hangs on stop or prints a sanitizer report fails the test that owns it.

Storage: SQLite (DATA/kanri.db) by default. When KANRI_TEST_PG holds a base
DSN of a PostgreSQL server (postgresql://USER@HOST:PORT/DB, a superuser, as
scripts/pg-test-server prints), every site gets a fresh database of its own on
that server instead: created when the site is initialised, passed to
`kanri init --store`, dropped when the site is cleaned up. site.sql() queries
whichever store a data folder uses; psql (from postgresql-client) does the
PostgreSQL side. Python 3 standard library only.

Tests that need PostgreSQL whatever the suite's store (backups, moves
between stores) make databases with site.pg_database() on KANRI_PG_SERVER
(else KANRI_TEST_PG); without either they fail, unless KANRI_TEST_PG=off,
which skips them. new_site(sqlite=True) keeps a site on SQLite in the
PostgreSQL run too.
"""

import contextlib
import glob
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.parse

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

# The PostgreSQL server the suite runs against, or "" for SQLite.
PG_BASE = os.environ.get("KANRI_TEST_PG", "").strip()
PG_OFF = PG_BASE.lower() == "off"  # the developer opted out of PostgreSQL
if PG_OFF:
    PG_BASE = ""
BACKEND = "postgres" if PG_BASE else "sqlite"

# A PostgreSQL server for the tests that need one whatever the suite's store
# (backups, restores and moves between stores): KANRI_PG_SERVER (tests/run
# exports its throwaway server's base DSN to every suite), else KANRI_TEST_PG.
PG_SERVER = "" if PG_OFF else (os.environ.get("KANRI_PG_SERVER", "").strip() or PG_BASE)


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


class Skip(Exception):
    """The test does not apply here (the reason is printed)."""


def skip(reason):
    raise Skip(reason)


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


# ---- storage ----------------------------------------------------------------

def _psql_path():
    p = os.environ.get("KANRI_PSQL") or shutil.which("psql")
    if p:
        return p
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"),
                   key=lambda x: [int(n) if n.isdigit() else n for n in re.split(r"(\d+)", x)])
    return found[-1] if found else None


_ROWS_MARK = "__kanri_test_rows__"


def psql(dsn, script, timeout=60):
    """Run an SQL script with psql on dsn (stopping at the first error); its
    standard output."""
    exe = _psql_path()
    check(exe, "KANRI_TEST_PG is set but there is no psql (install postgresql-client)")
    e = dict(os.environ)
    e.setdefault("PGCONNECT_TIMEOUT", "10")
    try:
        p = subprocess.run([exe, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", "-"],
                           input=script, capture_output=True, text=True, timeout=timeout, env=e,
                           errors="replace")
    except subprocess.TimeoutExpired:
        fail("psql did not finish within %d s: %s" % (timeout, short(script)))
    if p.returncode != 0:
        fail("psql on %s failed (exit %d): %s\n    SQL: %s" % (dsn, p.returncode,
                                                          short(p.stderr.strip()), short(script)))
    return p.stdout


def pg_literal(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


def pg_ident(name):
    return '"' + name.replace('"', '""') + '"'


def _inline(query, params):
    """query with each ? outside quotes replaced by the next param as a literal."""
    params = list(params)
    out, quote = [], None
    for ch in query:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "?":
            check(params, "more ? than parameters in %r" % query)
            out.append(pg_literal(params.pop(0)))
            continue
        out.append(ch)
    check(not params, "more parameters than ? in %r" % query)
    return "".join(out)


def pg_dsn(dbname, base=None):
    """The base DSN (KANRI_TEST_PG, or base) with its database replaced by dbname."""
    base = base or PG_BASE
    u = urllib.parse.urlsplit(base)
    check(u.scheme in ("postgres", "postgresql") and u.netloc,
          "KANRI_TEST_PG must be a URI like postgresql://USER@HOST:PORT/DB, not %r" % base)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + dbname, u.query, u.fragment))


def pg_dbname(dsn):
    return urllib.parse.unquote(urllib.parse.urlsplit(dsn).path.lstrip("/"))


_db_seq = [0]


def pg_create_database(template=None, base=None):
    """A new empty database (UTF-8, C collation) on the KANRI_TEST_PG server
    (or the server of base), or a copy of template; its name."""
    _db_seq[0] += 1
    name = "kt_%d_%d" % (os.getpid(), _db_seq[0])
    if template:
        sql = "CREATE DATABASE %s TEMPLATE %s" % (pg_ident(name), pg_ident(template))
    else:
        sql = "CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'" % pg_ident(name)
    psql(base or PG_BASE, sql + ";\n")
    return name


def pg_drop_database(name, base=None):
    psql(base or PG_BASE, "DROP DATABASE IF EXISTS %s WITH (FORCE);\n" % pg_ident(name))


def pg_server():
    """The base DSN of PG_SERVER, for a test that needs PostgreSQL even in the
    SQLite run. Skips the test when the developer opted out
    (KANRI_TEST_PG=off); fails it when no server is named."""
    if PG_OFF:
        skip("needs PostgreSQL (KANRI_TEST_PG=off)")
    if not PG_SERVER:
        fail("needs a PostgreSQL server: set KANRI_PG_SERVER (or KANRI_TEST_PG) to a base DSN such as "
             "scripts/pg-test-server start DIR prints (tests/run does), or KANRI_TEST_PG=off to skip")
    return PG_SERVER


class _Pairs(list):
    """A JSON object as its (key, value) pairs: a row keeps its column order
    and repeated names."""


def _plain(v):
    """A value inside a row: objects as dicts."""
    if isinstance(v, _Pairs):
        return {k: _plain(x) for k, x in v}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


class Store:
    """The database of a data folder: DATA/config.json's "store" when it is
    a postgres:// DSN, else DATA/kanri.db."""

    def __init__(self, data, dsn=None):
        self.data = data
        self.dsn = None
        try:
            with open(os.path.join(data, "config.json"), encoding="utf-8") as f:
                st = json.load(f).get("store")
            if isinstance(st, str) and re.match(r"postgres(ql)?://", st):
                self.dsn = st
        except (OSError, ValueError, AttributeError):
            pass
        self.dsn = self.dsn or dsn
        self.backend = "postgres" if self.dsn else "sqlite"
        self.path = os.path.join(data, "kanri.db")

    def sql(self, query, params=()):
        """Run one statement; its rows as tuples (none for a statement that
        returns none). Placeholders are ?. On PostgreSQL the values come back
        as JSON gives them (numbers, strings, booleans, None)."""
        if self.dsn:
            return self._pg(query, params)
        check(os.path.exists(self.path), "no SQLite database at %s" % self.path)
        conn = sqlite3.connect("file:%s?mode=rw" % urllib.parse.quote(self.path), uri=True, timeout=10)
        try:
            rows = conn.execute(query, tuple(params)).fetchall()
            conn.commit()
        finally:
            conn.close()
        return [tuple(r) for r in rows]

    def _pg(self, query, params):
        q = _inline(query.strip().rstrip(";").strip(), params)
        if re.match(r"(?is)\s*(select|with|values|table)\b", q) or re.search(r"(?i)\breturning\b", q):
            script = ("\\echo %s\nWITH kt_q AS (%s) SELECT coalesce(json_agg(kt_q), '[]') FROM kt_q;\n"
                      % (_ROWS_MARK, q))
            out = psql(self.dsn, script)
            body = out.split(_ROWS_MARK + "\n", 1)
            check(len(body) == 2, "psql printed no rows for %s: %r" % (short(q), out[-300:]))
            rows = json.loads(body[1], object_pairs_hook=_Pairs)
            return [tuple(_plain(v) for _, v in r) for r in rows]
        psql(self.dsn, q + ";\n")
        return []

    def columns(self, table):
        """The table's stored columns (not generated ones) in order; [] when
        there is no such table."""
        if self.dsn:
            rows = self.sql("SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(?) "
                            "AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
                            (table,))
        else:
            rows = [(r[1],) for r in self.sql("PRAGMA table_info(%s)" % table)]
        return [r[0] for r in rows]

    def tables(self):
        if self.dsn:
            rows = self.sql("SELECT c.oid::regclass::text FROM pg_class c "
                            "JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                            "AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1")
        else:
            rows = self.sql("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1")
        return [r[0] for r in rows]

    def drop_guards(self):
        """Drop the triggers and rules that guard tables: whoever can write the
        database can do that too."""
        if self.dsn:
            stmts = self.sql("SELECT format('DROP TRIGGER %I ON %s', t.tgname, t.tgrelid::regclass) "
                             "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                             "JOIN pg_namespace n ON n.oid = c.relnamespace "
                             "WHERE NOT t.tgisinternal AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                             "UNION ALL SELECT format('DROP RULE %I ON %I.%I', rulename, schemaname, tablename) "
                             "FROM pg_rules WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
            if stmts:
                psql(self.dsn, "".join(st + ";\n" for (st,) in stmts))
            return
        for (trig,) in self.sql("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            self.sql('DROP TRIGGER "%s"' % trig)

    def fingerprint(self):
        """A hash of the whole database: the SQLite file's bytes, or on
        PostgreSQL every table's columns and rows."""
        if not self.dsn:
            with open(self.path, "rb") as f:
                return hashlib.sha256(f.read()).hexdigest()
        h = hashlib.sha256()
        for t in self.tables():
            h.update(repr((t, self.columns(t))).encode())
            h.update(repr(self.sql("SELECT kt_t::text FROM %s kt_t ORDER BY 1" % t)).encode())
        return h.hexdigest()


# ---- sites ------------------------------------------------------------------

class Site:
    """A data folder and, when started, its server."""

    def __init__(self, name, keep=False, sqlite=False):
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
        self.pg = bool(PG_BASE) and not sqlite
        self.dbname = None  # this site's PostgreSQL database, once made
        self.dbs = []       # every database made for this site (copies too)
        self.server_dbs = []  # (base, name): databases made on PG_SERVER (pg_database())

    # -- CLI --
    def cli(self, *args, env=None, input=None, timeout=120, cwd=None):
        """Run the kanri binary (in cwd, default the site's folder); returns
        CompletedProcess (text). Fails the test when the run printed a
        sanitizer report."""
        e = dict(os.environ)
        e.pop("KANRI_ADMIN_PASSWORD", None)
        e.pop("KANRI_PASSWORD", None)
        e.update(env or {})
        try:
            p = subprocess.run([BIN] + [str(a) for a in args], env=e, cwd=cwd or self.dir,
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

    def store_args(self):
        """The options `kanri init` needs for this site's store: none for
        SQLite, else --store and the DSN of the site's own (new) database."""
        if not self.pg:
            return []
        if self.dbname is None:
            self.dbname = pg_create_database()
            self.dbs.append(self.dbname)
        return ["--store", pg_dsn(self.dbname)]

    def pg_database(self):
        """A new empty database on PG_SERVER (see pg_server()), dropped when
        the site is cleaned up; its DSN."""
        base = pg_server()
        name = pg_create_database(base=base)
        self.server_dbs.append((base, name))
        return pg_dsn(name, base=base)

    def init(self):
        self.cli_ok("init", "--data", self.data, *self.store_args(),
                    env={"KANRI_ADMIN_PASSWORD": ADMIN_PASSWORD})
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
        """The SQLite file (SQLite only; see store())."""
        return os.path.join(self.data, "kanri.db")

    def store(self, data=None):
        """The database of data (default: this site's data folder)."""
        data = data or self.data
        own = pg_dsn(self.dbname) if (self.dbname and os.path.abspath(data) == os.path.abspath(self.data)) else None
        return Store(data, own)

    def sql(self, query, params=(), data=None):
        """Run one statement (? placeholders) on the database of data (default:
        this site's), SQLite or PostgreSQL; its rows as tuples."""
        return self.store(data).sql(query, params)

    def copy_data(self, name):
        """A copy of this (stopped) site's data folder, DIR/copy-NAME, with a
        copy of its database; its path."""
        d = os.path.join(self.dir, "copy-" + name)
        shutil.copytree(self.data, d)
        if self.pg:
            src = self.store()
            check(src.dsn, "site %s has no PostgreSQL store to copy" % self.name)
            db = pg_create_database(template=pg_dbname(src.dsn))
            self.dbs.append(db)
            path = os.path.join(d, "config.json")
            cfg = {}
            if os.path.exists(path):
                with open(path, encoding="utf-8") as f:
                    cfg = json.load(f)
            cfg["store"] = pg_dsn(db)
            with open(path, "w", encoding="utf-8") as f:
                json.dump(cfg, f, indent=1)
        return d

    # -- server --
    def start(self, listen_arg=True, port=None, timeout=40, env=None):
        """Start kanri serve; env: variables added to the server's environment."""
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
                                             stdin=subprocess.DEVNULL, cwd=self.dir,
                                             env=dict(os.environ, **env) if env else None)
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
            for db in self.dbs:
                try:
                    pg_drop_database(db)
                except Failure as e:
                    print("note: could not drop database %s: %s" % (db, one_line_of(e)))
            self.dbs = []
            for base, db in self.server_dbs:
                try:
                    pg_drop_database(db, base=base)
                except Failure as e:
                    print("note: could not drop database %s: %s" % (db, one_line_of(e)))
            self.server_dbs = []

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


def one_line_of(e):
    return str(e).strip().replace("\n", " ")


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
    def new_site(self, name, users=(), start=True, init=True, overlays=None, config=None, sqlite=False):
        """A fresh site: initialised (admin + token), users [(name, role, org)],
        overlays {filename: declaration}, config {key: value}; started unless
        start=False; on SQLite even in the PostgreSQL run when sqlite=True.
        Stopped and removed on exit; a server problem fails the test."""
        s = Site(name, keep=self.keep, sqlite=sqlite)
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
