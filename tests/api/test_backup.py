# SPDX-License-Identifier: Apache-2.0
"""Backups, restores and moves between stores.

kanri backup (online, while the server runs and writes), kanri restore (into
SQLite or an empty PostgreSQL database) and kanri migrate-store (SQLite ->
PostgreSQL -> SQLite): every copy is compared with its original record by
record (every type, full records, lists with paging, totals, what each role
sees), journal entry by journal entry, comment by comment and relation by
relation; its tokens and sessions must keep working and `kanri audit verify`
must pass. Then the inputs these commands must refuse without writing
anything.

The moves need a PostgreSQL server even in the SQLite run of the suite:
KANRI_PG_SERVER, else KANRI_TEST_PG (see harness.pg_server()).
"""

import contextlib
import hashlib
import json
import os
import re
import sqlite3
import threading
import time
import urllib.parse

from harness import ADMIN, Failure, Site, Skip, Store, check, eq, fail, pg_server, psql, short

FIELDS = {"type": "incident", "fields": [
    {"name": "x_vendor_ticket", "kind": "text", "max": 40,
     "label": {"ja": "ベンダー票番号", "en": "Vendor ticket"}},
    {"name": "x_asset_tag", "kind": "integer", "min": 1, "max": 999999,
     "label": {"ja": "資産番号", "en": "Asset tag"}}]}

# (name, role, org): one user of every role, two organisations.
USERS = [("alice", "agent", None), ("bob", "agent", None), ("eve", "enduser", "acme"),
         ("mallory", "enduser", "globex"), ("audrey", "auditor", None)]

# Filters whose totals are compared; none of them matches the load records
# (new, no group, no organisation), so they hold on an online backup too.
TOTALS = ["assignment_group=network&open=true", "assignment_group=desk", "state=resolved",
          "state=closed", "state=cancelled", "state=on_hold", "state=in_progress",
          "x_vendor_ticket[null]=false", "category=network"]


# ---- building a site ----------------------------------------------------------

def version_of(s, ref, plural="incidents"):
    return s.record(ref, plural=plural)["version"]


def patch(s, ref, body, user=ADMIN, plural="incidents"):
    return s.patch("/%s/%s" % (plural, ref), body, version=version_of(s, ref, plural), user=user).expect(200).json


def move(s, ref, to, user="alice", plural="incidents", **fields):
    return s.transition(ref, to, user=user, plural=plural, **fields).expect(200).json


def populate(s, tag=""):
    """Varied data: groups (one retired), incidents of every state made by
    every writing role, updates with reasons, comments and work notes,
    relations (one removed again), custom fields. Returns the incidents."""
    s.create("groups", {"name": "network" + tag, "display_name": "ネットワーク班", "tier": 2,
                        "manager": "alice"})
    s.create("groups", {"name": "desk" + tag, "display_name": "Service desk", "tier": 1,
                        "email": "desk@example.com"})
    old = s.create("groups", {"name": "legacy" + tag, "description": "旧チーム\nretired"})
    move(s, old["id"], "retired", user=ADMIN, plural="groups")
    net, desk = "network" + tag, "desk" + tag

    a = s.incident(user="alice", title="メールが届かない %s" % tag, description="複数行の\n説明 \"quoted\"",
                   impact=1, urgency=2, category="network", assignment_group=net, assignee="alice",
                   x_vendor_ticket="VT-0001")
    b = s.incident(user="eve", title="Printer jam", impact=3, urgency=3, category="hardware")
    c = s.incident(user="mallory", title="VPN drops every hour", category="network")
    d = s.incident(user=ADMIN, title="Disk full", impact=2, urgency=1, assignment_group=desk, x_asset_tag=4242)
    e = s.incident(user="bob", title="To be cancelled", urgency=1)
    f = s.incident(user="alice", title="Same as the mail problem", category="software", assignment_group=net)
    g = s.incident(user="eve", title="Laptop slow", caller="eve")

    move(s, a["id"], "in_progress")
    patch(s, a["id"], {"impact": 2, "reason": "only one floor affected"}, user="alice")
    move(s, a["id"], "on_hold", hold_reason="awaiting_supplier")
    move(s, a["id"], "in_progress", user="bob")
    move(s, b["id"], "in_progress", user="bob")
    move(s, b["id"], "resolved", user="bob", resolution_code="fixed", resolution_notes="cleared the jam")
    move(s, b["id"], "closed", user="eve")
    move(s, c["id"], "resolved", resolution_code="workaround", resolution_notes="reconnect script")
    move(s, c["id"], "in_progress", user="mallory")  # reopened by its end user
    patch(s, d["id"], {"x_vendor_ticket": "VT-0042", "assignee": "bob", "reason": "vendor case opened"})
    move(s, e["id"], "cancelled", user="bob")
    move(s, f["id"], "resolved", resolution_code="duplicate", resolution_notes="see " + a["number"])
    move(s, g["id"], "on_hold", hold_reason="awaiting_caller")

    for ref, body, kind, user in [
            (a, "調査中です。", "comment", "alice"),
            (a, "supplier ticket 12345, do not share", "work_note", "alice"),
            (a, "any news?", "comment", ADMIN),
            (b, "thanks, it works", "comment", "eve"),
            (b, "roller replaced", "work_note", "bob"),
            (c, "still dropping\nat 10:00", "comment", "mallory"),
            (g, "please call me", "comment", "eve")]:
        s.post("/incidents/%d/comments" % ref["id"], {"body": body, "kind": kind}, user=user).expect(201)

    for src, kind, dst in [(f, "duplicate_of", a), (a, "caused_by", d), (a, "parent_of", c), (c, "child_of", a),
                           (e, "relates_to", b)]:
        s.post("/incidents/%d/relations" % src["id"], {"kind": kind, "target": "incidents/" + dst["number"]},
               user="alice").expect(201)
    for ref, name, data, ctype, user in [
            (a, "ログ 抜粋.txt", "調査ログ\n".encode("utf-8") * 40, "text/plain; charset=utf-8", "alice"),
            (a, "dump.bin", bytes(range(256)) * 3 + b"\x00\x00", "application/octet-stream", "bob"),
            (g, "screen.png", b"\x89PNG\r\n\x1a\n\x00" + bytes(range(255, -1, -1)), "image/png", "eve")]:
        s.request("POST", "/incidents/%d/attachments?name=%s" % (ref["id"], urllib.parse.quote(name, safe="")),
                  data=data, ctype=ctype, user=user).expect(201)

    gone = s.post("/incidents/%d/relations" % g["id"], {"kind": "blocks", "target": "incidents/" + d["number"]},
                  user="alice").expect(201).json
    s.delete("/incidents/%d/relations/%d" % (g["id"], gone["id"]), user="alice").expect(204)
    return [a, b, c, d, e, f, g]


def login(s, name):
    """A session of name: its Cookie header value."""
    r = s.post("/session", {"name": name, "password": s.passwords[name]}, user=None).expect(200)
    cookie = (r.header("Set-Cookie") or "").split(";")[0]
    check(cookie.startswith("kanri_session="), "no session cookie: %s" % r)
    return cookie


# ---- what a site holds, as its API shows it ----------------------------------------

def snapshot(s, users=("eve", "mallory", "audrey")):
    """Every record of every type (from the paged list and from GET, with its
    ETag), its journal, comments and relations; the totals of TOTALS; what
    each of users lists and reads."""
    snap = {"records": {}, "totals": {}, "views": {}}
    types = s.get("/meta/types").expect(200).json["items"]
    check({t["plural"] for t in types} >= {"incidents", "groups"}, "types: %r" % [t["plural"] for t in types])
    for t in types:
        plural = t["plural"]
        items = s.list_all("sort=id", plural=plural, limit=7)  # several pages
        eq(len(items), s.total(plural=plural), "%s: listed items against the total" % plural)
        for it in items:
            base = "/%s/%d" % (plural, it["id"])
            r = s.get(base).expect(200)
            snap["records"]["%s/%s" % (plural, it["number"])] = {
                "list item": it,
                "record": r.json,
                "etag": r.header("ETag"),
                "journal": s.get(base + "/journal").expect(200).json["items"],
                "comments": s.get(base + "/comments").expect(200).json["items"],
                "relations": s.get(base + "/relations").expect(200).json["items"],
                "attachments": attachments(s, base),
            }
    for q in TOTALS:
        snap["totals"][q] = s.total(q)
    for u in users:
        items = s.list_all("sort=id", user=u)
        snap["views"][u] = {
            "incidents": [i["number"] for i in items],
            "comments": {i["number"]: s.get("/incidents/%d/comments" % i["id"], user=u).expect(200).json["items"]
                         for i in items},
        }
    return snap


def attachments(s, base):
    """The attachments of the record at base: their metadata, each with the
    SHA-256 of the bytes downloaded (checked against its own)."""
    if not base.startswith("/incidents/"):
        return []
    items = s.get(base + "/attachments").expect(200).json["items"]
    for it in items:
        got = s.get("%s/attachments/%d" % (base, it["id"])).expect(200)
        it["downloaded"] = hashlib.sha256(got.body).hexdigest()
        eq(it["downloaded"], it["sha256"], "%s attachment %d: bytes against their SHA-256" % (base, it["id"]))
    return items


def without(snap, numbers):
    """snap without the incidents numbered numbers (those of a load made
    after a backup's snapshot)."""
    out = dict(snap)
    out["records"] = {k: v for k, v in snap["records"].items() if k.split("/", 1)[1] not in numbers}
    out["views"] = {u: {"incidents": [n for n in v["incidents"] if n not in numbers],
                        "comments": {n: c for n, c in v["comments"].items() if n not in numbers}}
                    for u, v in snap["views"].items()}
    return out


def first_difference(want, got, path=""):
    """Where want and got first differ, as 'path: want X, got Y'; None when equal."""
    if isinstance(want, dict) and isinstance(got, dict):
        for k in sorted(set(want) | set(got), key=str):
            if k not in got:
                return "%s.%s missing in the copy" % (path, k)
            if k not in want:
                return "%s.%s only in the copy (%s)" % (path, k, short(json.dumps(got[k], ensure_ascii=False), 200))
            d = first_difference(want[k], got[k], "%s.%s" % (path, k))
            if d:
                return d
        return None
    if isinstance(want, list) and isinstance(got, list):
        for i, (w, g) in enumerate(zip(want, got)):
            d = first_difference(w, g, "%s[%d]" % (path, i))
            if d:
                return d
        if len(want) != len(got):
            return "%s: %d items in the original, %d in the copy" % (path, len(want), len(got))
        return None
    if want != got or type(want) is not type(got):
        return "%s: original %s, copy %s" % (path, short(json.dumps(want, ensure_ascii=False), 300),
                                             short(json.dumps(got, ensure_ascii=False), 300))
    return None


def same(want, got, what):
    w, g = set(want["records"]), set(got["records"])
    check(w == g, "%s: records missing in the copy: %s; only in the copy: %s" % (
        what, sorted(w - g)[:10], sorted(g - w)[:10]))
    d = first_difference(want, got)
    if d:
        fail("%s differs from the original at %s" % (what, d))


# ---- serving another data folder --------------------------------------------------

@contextlib.contextmanager
def serving(s, data, name):
    """A server on data (a restored or moved folder) with s's users and
    tokens; stopped on exit, a server problem fails the test."""
    r = Site(name, keep=s.keep)
    r.data = data
    r.tokens = dict(s.tokens)
    r.passwords = dict(s.passwords)
    try:
        r.start()
        yield r
        problems = r.stop()
        if problems:
            fail("server on %s: %s" % (data, "; ".join(problems)))
    finally:
        r.cleanup()


def verify(s, data):
    p = s.cli("audit", "verify", "--data", data)
    eq(p.returncode, 0, "kanri audit verify --data %s (%s)" % (data, short((p.stdout + p.stderr).strip()[-400:])))
    return p.stdout


def same_logins(s, r, cookie):
    """Every token of s, and the session cookie, act as the same user on r."""
    for name in sorted(s.tokens):
        want = s.get("/session", user=name).expect(200).json
        got = r.get("/session", user=name).expect(200).json
        eq(got, want, "GET /session with %s's token on the copy" % name)
    got = r.get("/session", user=None, headers={"Cookie": cookie}).expect(200).json
    eq(got["user"]["name"], "alice", "the session of the original on the copy")
    # Passwords (hashes) and the login throttle's state came along.
    r.post("/session", {"name": "bob", "password": s.passwords["bob"]}, user=None).expect(200)
    r.post("/session", {"name": "bob", "password": "wrong-" + s.passwords["bob"]}, user=None).problem(401)


def writes_go_on(r, snap, what):
    """The copy takes new writes: numbers and ids go on after the largest
    copied ones (audit verify afterwards is the caller's)."""
    nums = [int(k.rsplit("-", 1)[1]) for k in snap["records"] if k.startswith("incidents/")]
    inc = r.incident(user="alice", title="after the copy")
    eq(inc["number"], "INC-%06d" % (max(nums) + 1), "%s: number of the first new incident" % what)
    r.post("/incidents/%d/comments" % inc["id"], {"body": "new here"}, user="bob").expect(201)
    move(r, inc["id"], "in_progress")
    eq([e["action"] for e in r.journal(inc["id"])][:1], ["create"], "%s: journal of a new incident" % what)
    g = r.create("groups", {"name": "after-copy"})
    check(g["id"] > max(int(x["record"]["id"]) for k, x in snap["records"].items() if k.startswith("groups/")),
          "%s: id of a new group %d reuses an old one" % (what, g["id"]))


# ---- the backup file itself ------------------------------------------------------

JOURNAL_COLS = "seq, at, actor, type, rec_id, action, changes, reason, digest, prev, hash"


def journal_rows(st, upto=None):
    """Every journal entry of store st (all columns, user and token entries
    too), or those up to seq upto."""
    if upto is None:
        return [tuple(r) for r in st.sql("SELECT %s FROM journal ORDER BY seq" % JOURNAL_COLS)]
    return [tuple(r) for r in st.sql("SELECT %s FROM journal WHERE seq <= ? ORDER BY seq" % JOURNAL_COLS, (upto,))]


def same_journal(want, st, what):
    """The journal of store st holds exactly the entries want (rows), hashes
    and all."""
    got = journal_rows(st)
    eq(len(got), len(want), "%s: journal entries" % what)
    for w, g in zip(want, got):
        if w != g:
            fail("%s: journal entry %s differs: original %s, copy %s" % (what, w[0], short(repr(w)), short(repr(g))))


def backup_rows(path, query):
    """Rows of the backup file (an SQLite database), read without touching it."""
    conn = sqlite3.connect("file:%s?immutable=1" % urllib.parse.quote(path), uri=True)
    try:
        return [tuple(r) for r in conn.execute(query).fetchall()]
    finally:
        conn.close()


def no_side_files(path):
    for ext in ("-wal", "-shm", "-journal"):
        check(not os.path.exists(path + ext), "%s%s left beside the backup" % (os.path.basename(path), ext))


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def sqlite_dump(path):
    """Every table's rows of an SQLite file (compared logically: opening a
    database may rewrite its header)."""
    conn = sqlite3.connect("file:%s?mode=ro" % urllib.parse.quote(path), uri=True)
    try:
        out = {}
        for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1"):
            out[t] = sorted(conn.execute('SELECT * FROM "%s"' % t.replace('"', '""')).fetchall(), key=repr)
        return out
    finally:
        conn.close()


# ---- an online backup under load --------------------------------------------------

class Loader(threading.Thread):
    """Creates incidents one after another (as alice) until stopped: the
    light load a backup runs under."""

    def __init__(self, s, tag):
        super().__init__(daemon=True)
        self.s, self.tag = s, tag
        self.created = []  # (id, number, time the answer came)
        self.error = None
        self.halt = threading.Event()

    def run(self):
        i = 0
        while not self.halt.is_set():
            i += 1
            try:
                r = self.s.post("/incidents", {"title": "%s %04d" % (self.tag, i), "impact": 1 + i % 3,
                                               "urgency": 2}, user="alice")
            except Exception as e:  # noqa: BLE001 - reported by the test
                self.error = str(e)
                return
            if r.status != 201:
                self.error = str(r)
                return
            self.created.append((r.json["id"], r.json["number"], time.time()))
            time.sleep(0.005)

    def wait_for(self, n, timeout=30):
        t0 = time.time()
        while len(self.created) < n and self.error is None and time.time() - t0 < timeout:
            time.sleep(0.01)
        check(self.error is None, "the load failed: %s" % self.error)
        check(len(self.created) >= n, "the load made %d incidents in %d s, not %d" % (len(self.created), timeout, n))

    def finish(self):
        self.halt.set()
        self.join(30)
        check(not self.is_alive(), "the load did not stop")
        check(self.error is None, "the load failed: %s" % self.error)


def online_backup(s, out, tag):
    """kanri backup of s's running server while a load creates incidents.
    Checks that the file is a consistent prefix of the installation: its
    journal is exactly the original's first N entries, and the load's
    incidents in it are exactly the first k made, each with its create entry.
    Returns the numbers of the load's incidents that are not in the backup,
    and the number of journal entries in it."""
    load = Loader(s, tag)
    load.start()
    try:
        load.wait_for(5)
        t0 = time.time()
        p = s.cli("backup", "--data", s.data, "--out", out)
        t1 = time.time()
        load.wait_for(len(load.created) + 5)
    finally:
        load.finish()
    eq(p.returncode, 0, "kanri backup under load exited %d (%s)" % (p.returncode, short(p.stderr or p.stdout)))
    check(re.search(r"(?i)verified", p.stdout), "kanri backup did not say it verified the copy: %r" % p.stdout[-300:])
    check(os.path.isfile(out), "no backup file at %s" % out)
    no_side_files(out)
    during = [c for c in load.created if t0 <= c[2] <= t1]
    check(during, "no incident was created while kanri backup ran (%.2fs): not an online backup test" % (t1 - t0))

    # The journal in the file: the original's first N entries, unchanged.
    got = backup_rows(out, "SELECT %s FROM journal ORDER BY seq" % JOURNAL_COLS)
    check(got, "the backup holds no journal")
    n = got[-1][0]
    eq([r[0] for r in got], list(range(1, n + 1)), "journal sequence numbers in the backup")
    want = s.sql("SELECT %s FROM journal WHERE seq <= ? ORDER BY seq" % JOURNAL_COLS, (n,))
    for w, g in zip(want, got):
        if tuple(w) != tuple(g):
            fail("journal entry %s of the backup differs from the original: %r / %r" % (w[0], short(repr(w)),
                                                                                         short(repr(g))))
    (later,) = s.sql("SELECT count(*) FROM journal WHERE seq > ?", (n,))[0]
    check(later > 0, "the original journal did not grow after the backup: the load was not concurrent")

    # The load's incidents in the file: a prefix of those made, each journalled.
    ids = {c[0] for c in load.created}
    in_file = sorted(r[0] for r in backup_rows(out, "SELECT id FROM rec_incident") if r[0] in ids)
    made = [c[0] for c in load.created]
    k = len(in_file)
    check(0 < k < len(made), "the backup holds %d of the %d incidents of the load" % (k, len(made)))
    eq(in_file, made[:k], "the load's incidents in the backup (a prefix of those made)")
    created = sorted(r[0] for r in backup_rows(out, "SELECT rec_id FROM journal WHERE type = 'incident' "
                                                    "AND action = 'create'") if r[0] in ids)
    eq(created, in_file, "the load's incidents with a create entry in the backup's journal")
    return {c[1] for c in load.created[k:]}, n


# ---- the tests ------------------------------------------------------------------

def test_backup_online_and_restore(ctx):
    with ctx.new_site("backup", users=USERS, overlays={"fields.json": FIELDS}) as s:
        populate(s)
        cookie = login(s, "alice")
        out = os.path.join(s.dir, "site.kbak")
        missing, njournal = online_backup(s, out, "load")
        want = snapshot(s)
        with open(os.path.join(s.data, "schema", "fields.json"), "rb") as f:
            overlay = f.read()

        rdata = os.path.join(s.dir, "restored")
        p = s.cli_ok("restore", "--from", out, "--data", rdata)
        m = re.search(r"(\d+) records, (\d+) comments, (\d+) relations, (\d+) journal entries, (\d+) users", p.stdout)
        check(m, "kanri restore printed no counts: %r" % p.stdout[-400:])
        nrec = len(want["records"]) - len(missing)
        eq(int(m.group(1)), nrec, "records restored (as printed)")
        eq(int(m.group(4)), njournal, "journal entries restored (as printed)")
        eq(int(m.group(5)), 1 + len(USERS), "users restored (as printed)")
        with open(os.path.join(rdata, "schema", "fields.json"), "rb") as f:
            eq(f.read(), overlay, "the overlay restored into DATA/schema")
        check(os.path.exists(os.path.join(rdata, "kanri.db")), "the restore made no kanri.db")
        same_journal(journal_rows(s.store(), njournal), Store(rdata), "the restored copy")
        verify(s, rdata)

        with serving(s, rdata, "restored") as r:
            got = snapshot(r)
            same(without(want, missing), got, "the restored copy")
            names = [f["name"] for f in r.get("/meta/types/incident").expect(200).json["fields"]]
            check("x_vendor_ticket" in names and "x_asset_tag" in names, "the custom fields on the copy: %r" % names)
            same_logins(s, r, cookie)
            writes_go_on(r, got, "the restored copy")
        verify(s, rdata)
        # The original is untouched by the backup and keeps serving.
        s.get("/incidents/1").expect(200)


def test_migrate_sqlite_postgres_sqlite(ctx):
    """The round trip the product promises: an SQLite installation moved to
    PostgreSQL, backed up from there online and restored into SQLite (and into
    PostgreSQL), every record and journal entry equal all along."""
    pg_server()
    config = {"body_limit": 2097152, "secure_cookies": False, "jobs": {"tick_ms": 500}}
    with ctx.new_site("moves", users=USERS, overlays={"fields.json": FIELDS}, config=config, sqlite=True) as s:
        populate(s)
        cookie = login(s, "alice")
        want = snapshot(s)
        s.stop_ok()
        cfg_path = os.path.join(s.data, "config.json")
        with open(cfg_path, "rb") as f:
            cfg_before = f.read()
        db_before = sqlite_dump(s.db())
        journal = journal_rows(s.store())
        njournal = len(journal)

        # 1. SQLite -> PostgreSQL
        dsn = s.pg_database()
        p = s.cli_ok("migrate-store", "--data", s.data, "--to", dsn)
        m = re.search(r"(\d+) records, (\d+) comments, (\d+) relations, (\d+) journal entries, (\d+) users", p.stdout)
        check(m, "kanri migrate-store printed no counts: %r" % p.stdout[-400:])
        eq(int(m.group(1)), len(want["records"]), "records copied (as printed)")
        eq(int(m.group(4)), njournal, "journal entries copied (as printed)")
        with open(cfg_path, encoding="utf-8") as f:
            cfg = json.load(f)
        eq(cfg.get("store"), dsn, "config.json store after migrate-store")
        eq({k: v for k, v in cfg.items() if k != "store"}, config, "the other keys of config.json")
        with open(cfg_path + ".before-migrate", "rb") as f:
            eq(f.read(), cfg_before, "config.json.before-migrate")
        check(sqlite_dump(s.db()) == db_before, "migrate-store changed the old SQLite database")
        st = Store(s.data)
        eq(st.backend, "postgres", "the store the folder names now")
        same_journal(journal, st, "the installation moved to PostgreSQL")
        verify(s, s.data)
        s.start()
        moved = snapshot(s)
        same(want, moved, "the installation moved to PostgreSQL")
        same_logins(s, s, cookie)

        # 2. More work on PostgreSQL, then an online backup from there.
        extra = populate(s, tag="-pg")
        patch(s, extra[0]["id"], {"x_asset_tag": 77, "reason": "asset found"}, user="bob")
        out = os.path.join(s.dir, "from-pg.kbak")
        missing, n = online_backup(s, out, "pgload")
        want2 = snapshot(s)
        journal2 = journal_rows(s.store(), n)
        eq(journal2[:njournal], journal, "the journal made on SQLite, on PostgreSQL")
        check(set(want["records"]) < set(want2["records"]), "the PostgreSQL phase added records")

        # 3. ... restored into SQLite: the round trip's end.
        rdata = os.path.join(s.dir, "back-in-sqlite")
        s.cli_ok("restore", "--from", out, "--data", rdata)
        eq(sorted(os.listdir(os.path.join(rdata, "schema"))), ["fields.json"], "overlays restored")
        same_journal(journal2, Store(rdata), "the SQLite copy of the PostgreSQL installation")
        check(not os.path.exists(os.path.join(rdata, "config.json"))
              or "store" not in json.load(open(os.path.join(rdata, "config.json"))),
              "a restore into SQLite names a store in config.json")
        verify(s, rdata)
        with serving(s, rdata, "back-in-sqlite") as r:
            eq(Store(rdata).backend, "sqlite", "store of the restored folder")
            got = snapshot(r)
            same(without(want2, missing), got, "the SQLite copy of the PostgreSQL installation")
            # ... and every record first made on SQLite (none changed since) is
            # as it was, with every journal entry, at the end of the round trip.
            d = first_difference(want["records"], {k: got["records"].get(k) for k in want["records"]})
            if d:
                fail("round trip sqlite -> postgres -> sqlite: differs at %s" % d)
            same_logins(s, r, cookie)
            writes_go_on(r, got, "the SQLite copy")
        verify(s, rdata)

        # 4. ... and restored into an empty PostgreSQL database.
        pdata = os.path.join(s.dir, "restored-pg")
        dsn2 = s.pg_database()
        s.cli_ok("restore", "--from", out, "--data", pdata, "--store", dsn2)
        with open(os.path.join(pdata, "config.json"), encoding="utf-8") as f:
            eq(json.load(f).get("store"), dsn2, "config.json store of a restore into PostgreSQL")
        same_journal(journal2, Store(pdata), "the PostgreSQL copy of the backup")
        verify(s, pdata)
        with serving(s, pdata, "restored-pg") as r:
            got = snapshot(r)
            same(without(want2, missing), got, "the PostgreSQL copy of the backup")
            same_logins(s, r, cookie)
            writes_go_on(r, got, "the PostgreSQL copy")
        verify(s, pdata)


# ---- what the commands refuse ---------------------------------------------------------

def refused(p, what, *names):
    """p exited non-zero with a message on stderr naming each of names."""
    check(p.returncode != 0, "%s: exited 0 (%s)" % (what, short(p.stdout)))
    msg = p.stderr.strip()
    check(msg, "%s: no message on stderr" % what)
    for n in names:
        check(n in msg, "%s: the message does not name %r: %r" % (what, n, msg[-400:]))
    return msg


def listing(d):
    return sorted(os.listdir(d))


def read(path):
    with open(path, "rb") as f:
        return f.read()


def pg_state(dsn):
    """A fingerprint of a PostgreSQL database: every table's columns and rows
    (one psql run; Store.fingerprint() takes two per table)."""
    return psql(dsn, """
SELECT c.oid::regclass::text,
       (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
          FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
       md5(query_to_xml(format('SELECT t::text AS r FROM %s t ORDER BY 1', c.oid::regclass), false, false, '')::text)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1;
""")


def test_refusals_write_nothing(ctx):
    with ctx.new_site("refuse", users=[("alice", "agent", None)]) as s:
        s.incident(user="alice", title="keep me")
        work = os.path.join(s.dir, "work")
        os.makedirs(work)
        missing = os.path.join(s.dir, "no-such-folder")

        # kanri backup never overwrites, and needs its inputs.
        out = os.path.join(work, "exists.kbak")
        with open(out, "w") as f:
            f.write("precious")
        refused(s.cli("backup", "--data", s.data, "--out", out), "backup onto an existing file", out)
        eq(read(out), b"precious", "the existing file after a refused backup")
        eq(listing(work), ["exists.kbak"], "files beside it")
        refused(s.cli("backup", "--data", missing, "--out", os.path.join(work, "a.kbak")),
                "backup of a folder that does not exist", missing)
        refused(s.cli("backup", "--data", s.data, "--out", os.path.join(missing, "a.kbak")),
                "backup into a folder that does not exist")
        refused(s.cli("backup", "--data", s.data), "backup without --out", "--out")
        eq(listing(work), ["exists.kbak"], "files after refused backups")
        check(not os.path.exists(missing), "a refused backup made %s" % missing)

        good = os.path.join(s.dir, "good.kbak")
        s.cli_ok("backup", "--data", s.data, "--out", good)

        # kanri restore: only from a kanri backup, only into a new folder.
        text = os.path.join(work, "notes.txt")
        with open(text, "w") as f:
            f.write("not a backup\n" * 100)
        empty = os.path.join(work, "empty.kbak")
        open(empty, "w").close()
        other = os.path.join(work, "other.db")
        conn = sqlite3.connect(other)
        conn.execute("CREATE TABLE meta(key TEXT, value TEXT)")
        conn.execute("INSERT INTO meta VALUES('version', '1')")
        conn.commit()
        conn.close()
        before = {f: sha(os.path.join(work, f)) for f in listing(work)}
        target = os.path.join(s.dir, "restored")
        for what, src in [("a file that does not exist", os.path.join(work, "nope.kbak")),
                          ("a text file", text), ("an empty file", empty),
                          ("an SQLite database that is not kanri's", other),
                          ("a folder", s.data)]:
            refused(s.cli("restore", "--from", src, "--data", target), "restore from %s" % what, src)
            check(not os.path.exists(target), "restore from %s left %s behind" % (what, target))
            eq({f: sha(os.path.join(work, f)) for f in listing(work)}, before,
               "the files in %s after a restore from %s" % (work, what))
        refused(s.cli("restore", "--data", target), "restore without --from", "--from")
        check(not os.path.exists(target), "restore without --from made %s" % target)

        full = os.path.join(s.dir, "full")
        os.makedirs(os.path.join(full, "schema"))
        with open(os.path.join(full, "precious.txt"), "w") as f:
            f.write("do not touch")
        refused(s.cli("restore", "--from", good, "--data", full), "restore into a folder that is not empty", full)
        eq(listing(full), ["precious.txt", "schema"], "the folder after a refused restore")
        eq(listing(os.path.join(full, "schema")), [], "its schema folder")
        eq(read(os.path.join(full, "precious.txt")), b"do not touch", "the file in it")

        # kanri migrate-store only into a store that holds no installation.
        s.stop_ok()
        cfg = os.path.join(s.data, "config.json")
        cfg0 = read(cfg) if os.path.exists(cfg) else None
        files = listing(s.data)
        state = pg_state(s.store().dsn) if s.pg else sqlite_dump(s.db())
        installed = os.path.join(s.dir, "installed")
        s.cli_ok("restore", "--from", good, "--data", installed)
        other_file = os.path.join(installed, "kanri.db")
        other_dump = sqlite_dump(other_file)
        msg = refused(s.cli("migrate-store", "--data", s.data, "--to", "sqlite:" + other_file),
                      "migrate-store into an SQLite file that holds an installation")
        check(re.search(r"(?i)already|installation|not empty", msg), "the message does not say why: %r" % msg)
        eq(sqlite_dump(other_file), other_dump, "the SQLite file after a refused migrate-store")
        refused(s.cli("migrate-store", "--data", s.data, "--to", "mysql://kanri@127.0.0.1/kanri"),
                "migrate-store to an unsupported store", "mysql://")
        refused(s.cli("migrate-store", "--data", s.data), "migrate-store without --to", "--to")
        refused(s.cli("migrate-store", "--data", missing, "--to", "sqlite:" + os.path.join(work, "x.db")),
                "migrate-store of a folder that does not exist", missing)
        check(not os.path.exists(os.path.join(work, "x.db")), "migrate-store of a missing folder made its target")
        eq(listing(s.data), files, "the data folder after refused moves")
        eq(read(cfg) if os.path.exists(cfg) else None, cfg0, "config.json after refused moves")
        eq(pg_state(s.store().dsn) if s.pg else sqlite_dump(s.db()), state, "the database after refused moves")
        s.start()
        eq([i["title"] for i in s.list_all("sort=id")], ["keep me"], "the site after refused moves")


def test_refusals_of_a_database_with_an_installation(ctx):
    """restore --store and migrate-store into a PostgreSQL database that
    already holds an installation: refused, and nothing written anywhere."""
    pg_server()
    with ctx.new_site("refusepg", users=[("alice", "agent", None)], sqlite=True) as s:
        s.incident(user="alice", title="keep me")
        good = os.path.join(s.dir, "good.kbak")
        s.cli_ok("backup", "--data", s.data, "--out", good)
        dsn = s.pg_database()
        first = os.path.join(s.dir, "first")
        s.cli_ok("restore", "--from", good, "--data", first, "--store", dsn)
        verify(s, first)
        state = pg_state(dsn)
        target = os.path.join(s.dir, "restored")
        msg = refused(s.cli("restore", "--from", good, "--data", target, "--store", dsn),
                      "restore into a PostgreSQL database that holds an installation")
        check(re.search(r"(?i)already|installation|not empty", msg), "the message does not say why: %r" % msg)
        check(not os.path.exists(target), "the refused restore left %s behind" % target)
        eq(pg_state(dsn), state, "the PostgreSQL database after a refused restore")

        s.stop_ok()
        cfg = os.path.join(s.data, "config.json")
        cfg0 = read(cfg) if os.path.exists(cfg) else None
        files = listing(s.data)
        db = sqlite_dump(s.db())
        msg = refused(s.cli("migrate-store", "--data", s.data, "--to", dsn),
                      "migrate-store into a database that holds an installation")
        check(re.search(r"(?i)already|installation|not empty", msg), "the message does not say why: %r" % msg)
        eq(pg_state(dsn), state, "the PostgreSQL database after a refused migrate-store")
        eq(listing(s.data), files, "the data folder after a refused migrate-store")
        eq(read(cfg) if os.path.exists(cfg) else None, cfg0, "config.json after a refused migrate-store")
        eq(sqlite_dump(s.db()), db, "the SQLite database after a refused migrate-store")
        s.start()
        eq([i["title"] for i in s.list_all("sort=id")], ["keep me"], "the site after a refused migrate-store")


def tamper_record(st, ref):
    """Alter an incident's row behind the journal's back (as whoever can
    write the database can)."""
    st.drop_guards()
    n = len(st.sql("UPDATE rec_incident SET title = 'forged' WHERE id = ? RETURNING 1", (ref,)))
    eq(n, 1, "rows altered")


def test_backup_verifies_its_copy(ctx):
    with ctx.new_site("tamperedsrc", start=True) as s:
        a = s.incident(user=ADMIN, title="real title")
        s.incident(user=ADMIN, title="other")
        s.stop_ok()
        d = s.copy_data("tampered")
        tamper_record(s.store(d), a["id"])
        out = os.path.join(s.dir, "tampered.kbak")
        msg = refused(s.cli("backup", "--data", d, "--out", out), "backup of an installation altered outside kanri")
        check(a["number"] in msg or re.search(r"\bincident\D{0,12}\b%d\b" % a["id"], msg),
              "the message does not name %s: %r" % (a["number"], msg[-400:]))
        check(not os.path.exists(out), "a backup that failed its verification was left at %s" % out)
        no_side_files(out)
        # The intact folder backs up.
        s.cli_ok("backup", "--data", s.data, "--out", out)


def test_restore_verifies_and_leaves_nothing(ctx):
    """A backup altered after it was written is refused by restore, which
    leaves nothing behind: no new folder, an empty folder given as the
    target still there and empty, an empty PostgreSQL database still empty
    (that part needs PostgreSQL)."""
    with ctx.new_site("tamperedbak", start=True) as s:
        a = s.incident(user=ADMIN, title="real title")
        s.incident(user=ADMIN, title="other")
        good = os.path.join(s.dir, "good.kbak")
        s.cli_ok("backup", "--data", s.data, "--out", good)
        bad = os.path.join(s.dir, "bad.kbak")
        with open(good, "rb") as f, open(bad, "wb") as g:
            g.write(f.read())
        conn = sqlite3.connect(bad)
        for (trig,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            conn.execute('DROP TRIGGER "%s"' % trig)
        n = conn.execute("UPDATE rec_incident SET title = 'forged' WHERE id = ?", (a["id"],)).rowcount
        eq(n, 1, "rows altered")
        conn.commit()
        conn.close()

        problems = []
        target = os.path.join(s.dir, "restored")
        msg = refused(s.cli("restore", "--from", bad, "--data", target), "restore of an altered backup")
        check(a["number"] in msg or "altered" in msg, "the message does not name %s: %r" % (a["number"], msg))
        if os.path.exists(target):
            problems.append("a refused restore left %s: %s" % (target, listing(target)))

        given = os.path.join(s.dir, "given")
        os.makedirs(given)
        refused(s.cli("restore", "--from", bad, "--data", given), "restore of an altered backup into an empty folder")
        if not os.path.isdir(given):
            problems.append("a refused restore removed the empty folder it was given (%s)" % given)
        elif listing(given):
            problems.append("a refused restore left %s in the folder it was given" % listing(given))

        try:
            pg_server()
            has_pg = True
        except Skip:  # KANRI_TEST_PG=off
            has_pg = False
        except Failure as e:
            problems.append(str(e))
            has_pg = False
        if has_pg:
            dsn = s.pg_database()
            state = pg_state(dsn)
            refused(s.cli("restore", "--from", bad, "--data", target, "--store", dsn),
                    "restore of an altered backup into PostgreSQL")
            if os.path.exists(target):
                problems.append("a refused restore into PostgreSQL left %s" % target)
            if pg_state(dsn) != state:
                tables = Store("/nonexistent", dsn).tables()
                problems.append("a refused restore left the PostgreSQL database changed (now %d tables: %s...)"
                                % (len(tables), ", ".join(tables[:4])))
                # ... so that a restore of the intact backup into it is refused now:
                p = s.cli("restore", "--from", good, "--data", target, "--store", dsn)
                if p.returncode != 0:
                    problems.append("a restore of the intact backup into that database is then refused: %s"
                                    % short(p.stderr.strip()))
        if problems:
            fail("; ".join(problems))


# ---- moving back, and what a backup keeps ---------------------------------------------

def test_migrate_there_and_back(ctx):
    """SQLite -> PostgreSQL -> SQLite with migrate-store alone: equal at every
    step; each move keeps the config it replaced as config.json.before-migrate."""
    pg_server()
    with ctx.new_site("andback", users=USERS[:3], overlays={"fields.json": FIELDS}, config={"body_limit": 65536},
                      sqlite=True) as s:
        a = s.incident(user="alice", title="moved twice", impact=1)
        s.post("/incidents/%d/comments" % a["id"], {"body": "a note", "kind": "work_note"}, user="alice").expect(201)
        move(s, a["id"], "in_progress")
        want = snapshot(s, users=("eve",))
        s.stop_ok()
        cfg = os.path.join(s.data, "config.json")
        cfg0 = read(cfg)
        journal = journal_rows(s.store())

        dsn = s.pg_database()
        s.cli_ok("migrate-store", "--data", s.data, "--to", dsn)
        cfg1 = read(cfg)
        eq(json.loads(cfg1)["store"], dsn, "store after the move to PostgreSQL")
        eq(read(cfg + ".before-migrate"), cfg0, "config.json.before-migrate after the first move")
        same_journal(journal, Store(s.data), "the journal moved to PostgreSQL")
        s.start()
        same(want, snapshot(s, users=("eve",)), "on PostgreSQL")
        b = s.incident(user="alice", title="made on PostgreSQL")
        want = snapshot(s, users=("eve",))
        s.stop_ok()
        journal = journal_rows(s.store())

        back = os.path.join(s.dir, "back", "kanri-again.db")
        os.makedirs(os.path.dirname(back))
        s.cli_ok("migrate-store", "--data", s.data, "--to", "sqlite:" + back)
        check(os.path.isfile(back), "migrate-store made no %s" % back)
        eq(json.loads(read(cfg))["store"], "sqlite:" + back, "store after the move back to SQLite")
        eq(json.loads(read(cfg))["body_limit"], 65536, "the other keys of config.json after two moves")
        conn = sqlite3.connect("file:%s?mode=ro" % urllib.parse.quote(back), uri=True)
        got = [tuple(r) for r in conn.execute("SELECT %s FROM journal ORDER BY seq" % JOURNAL_COLS)]
        conn.close()
        eq(got, journal, "the journal moved back to SQLite")
        verify(s, s.data)
        s.start()
        same(want, snapshot(s, users=("eve",)), "moved back to SQLite")
        eq(s.record(b["id"])["title"], "made on PostgreSQL", "a record made on PostgreSQL, back on SQLite")
        c = s.incident(user="alice", title="made after the move back")
        eq(c["number"], "INC-000003", "the next number after the move back")
        s.stop_ok()
        verify(s, s.data)
        eq(read(cfg + ".before-migrate"), cfg1,
           "config.json.before-migrate after the second move (the config that move replaced, naming %s)" % dsn)


def test_migrate_to_a_relative_sqlite_path(ctx):
    """sqlite:PATH relative to the working directory: either refused, or the
    folder keeps working from any working directory (kanri serve under
    systemd does not start where migrate-store ran)."""
    with ctx.new_site("relpath", users=[("alice", "agent", None)], start=True) as s:
        s.incident(user="alice", title="must not get lost")
        s.stop_ok()
        (n,) = s.sql("SELECT count(*) FROM journal")[0]
        cfg = os.path.join(s.data, "config.json")
        cfg0 = read(cfg) if os.path.exists(cfg) else None
        p = s.cli("migrate-store", "--data", s.data, "--to", "sqlite:moved.db")  # in s.dir
        if p.returncode != 0:
            check(p.stderr.strip(), "refused without a message")
            eq(read(cfg) if os.path.exists(cfg) else None, cfg0, "config.json after a refused move")
            return
        elsewhere = os.path.join(s.dir, "elsewhere")
        os.makedirs(elsewhere)
        p = s.cli("audit", "verify", "--data", s.data, cwd=elsewhere)
        made = os.path.exists(os.path.join(elsewhere, "moved.db"))
        m = re.search(r"(\d+) entries", p.stdout + p.stderr)
        check(p.returncode == 0 and m and int(m.group(1)) == n and not made,
              "after migrate-store --to sqlite:moved.db (config.json now says %s), kanri run from another "
              "working directory sees %s journal entries instead of %d%s" % (
                  json.loads(read(cfg)).get("store"), m.group(1) if m else "no",
                  n, " (it made a new, empty moved.db there)" if made else ""))


def test_backup_after_adding_a_custom_field(ctx):
    """The documented way to add a field (an overlay, then a restart) to an
    installation whose records predate it: backup, restore and audit verify
    must still work."""
    with ctx.new_site("latefield", users=[("alice", "agent", None)]) as s:
        a = s.incident(user="alice", title="made before the field")
        s.stop_ok()
        s.write_overlay("fields.json", FIELDS)
        s.start()
        eq(s.record(a["id"]).get("x_vendor_ticket", "absent"), None, "the new field on an old record")
        b = s.incident(user="alice", title="made after the field", x_vendor_ticket="VT-9")
        out = os.path.join(s.dir, "late.kbak")
        p = s.cli("backup", "--data", s.data, "--out", out)
        if p.returncode != 0:
            v = s.cli("audit", "verify", "--data", s.data)
            fail("kanri backup after adding a field to existing records exited %d: %s (and kanri audit "
                 "verify says: %s)" % (p.returncode, short(p.stderr.strip()), short((v.stdout + v.stderr).strip())))
        rdata = os.path.join(s.dir, "restored")
        s.cli_ok("restore", "--from", out, "--data", rdata)
        with serving(s, rdata, "latefield-restored") as r:
            eq(r.record(a["id"]), s.record(a["id"]), "the old record, restored")
            eq(r.record(b["id"]), s.record(b["id"]), "the new record, restored")


def test_restore_leaves_the_backup_alone(ctx):
    """A backup file is read, never written: after a restore its folder holds
    just the file, unchanged (a backup may sit on read-only media)."""
    with ctx.new_site("bakfile") as s:
        s.incident(user=ADMIN, title="backed up")
        bdir = os.path.join(s.dir, "backups")
        os.makedirs(bdir)
        out = os.path.join(bdir, "site.kbak")
        s.cli_ok("backup", "--data", s.data, "--out", out)
        eq(listing(bdir), ["site.kbak"], "the backup's folder after kanri backup")
        h = sha(out)
        s.cli_ok("restore", "--from", out, "--data", os.path.join(s.dir, "restored"))
        eq(sha(out), h, "the backup file after a restore")
        eq(listing(bdir), ["site.kbak"], "the backup's folder after a restore")
