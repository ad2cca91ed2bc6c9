# SPDX-License-Identifier: Apache-2.0
"""Site overlays (custom fields, the priority matrix), forward migration,
restarts and DATA/config.json. Each test runs its own data folder."""

import json
import os

from harness import ADMIN, ADMIN_PASSWORD, check, eq, free_port
from test_meta import fields_of, labels

VENDOR = {"type": "incident", "fields": [
    {"name": "x_vendor_ticket", "kind": "text", "max": 40,
     "label": {"ja": "ベンダー票番号", "en": "Vendor ticket"}}]}
MATRIX2 = [[1, 1, 2], [1, 2, 3], [2, 3, 4]]
MATRIX_OVERLAY = {"type": "incident", "fields": [
    {"name": "priority", "computed": {"config": {"matrix": MATRIX2}}}]}


def test_custom_field_overlay(ctx):
    with ctx.new_site("overlay", overlays={"vendor.json": VENDOR}) as s:
        m = s.get("/meta/types/incident").expect(200).json
        f = fields_of(m).get("x_vendor_ticket")
        check(f, "custom field not in the metadata")
        eq((labels(f).get("ja"), labels(f).get("en")), ("ベンダー票番号", "Vendor ticket"), "labels")
        eq((f.get("kind"), f.get("max")), ("text", 40), "kind and max")
        check("x_vendor_ticket" in s.get("/openapi.json").expect(200).body.decode(),
              "custom field not in the OpenAPI description")
        inc = s.incident(user=ADMIN, title="with a vendor ticket", x_vendor_ticket="VT-0042")
        eq(inc["number"], "INC-000001", "first number of a fresh folder")
        eq(inc["x_vendor_ticket"], "VT-0042", "custom field in the answer")
        plain = s.incident(user=ADMIN, title="without")
        eq(plain["x_vendor_ticket"], None, "custom field when not given")
        total = s.total()
        s.post("/incidents", {"title": "too long", "x_vendor_ticket": "v" * 41}).problem(422, "x_vendor_ticket")
        s.post("/incidents", {"title": "wrong type", "x_vendor_ticket": 42}).problem(422, "x_vendor_ticket")
        eq(s.total(), total, "incidents after refused creates")
        ok = s.incident(user=ADMIN, title="just fits", x_vendor_ticket="v" * 40)
        eq(len(ok["x_vendor_ticket"]), 40, "40 letters")
        eq(s.total("x_vendor_ticket=VT-0042"), 1, "filter on the custom field")
        eq(s.total("x_vendor_ticket[null]=true"), 1, "[null] on the custom field")
        r = s.patch("/incidents/%d" % plain["id"], {"x_vendor_ticket": "VT-7", "reason": "vendor called"},
                    version=1).expect(200)
        eq(r.json["x_vendor_ticket"], "VT-7", "patched custom field")
        s.restart()
        got = s.record(inc["id"])
        eq(got["x_vendor_ticket"], "VT-0042", "custom field after restart")
        eq(s.record(plain["id"])["x_vendor_ticket"], "VT-7", "patched custom field after restart")
        check("x_vendor_ticket" in fields_of(s.get("/meta/types/incident").json), "metadata after restart")


def test_forward_migration_adds_field(ctx):
    with ctx.new_site("migrate") as s:
        a = s.incident(user=ADMIN, title="before the overlay", impact=2, urgency=1, category="network")
        s.post("/incidents/%d/comments" % a["id"], {"body": "old comment", "kind": "comment"}).expect(201)
        check("x_vendor_ticket" not in a, "field present before its overlay")
        s.stop_ok()
        s.write_overlay("vendor.json", VENDOR)
        s.start()
        got = s.record(a["id"])
        check("x_vendor_ticket" in got, "old record lacks the new field: %r" % got)
        eq(got["x_vendor_ticket"], None, "new field on an old record")
        for k in ("id", "number", "title", "impact", "urgency", "priority", "category", "version",
                  "created_at", "created_by", "state"):
            eq(got[k], a[k], "%s after migration" % k)
        eq(len(s.get("/incidents/%d/comments" % a["id"]).json["items"]), 1, "comments after migration")
        r = s.patch("/incidents/%d" % a["id"], {"x_vendor_ticket": "VT-9"}, version=got["version"]).expect(200)
        eq(r.json["x_vendor_ticket"], "VT-9", "new field set on an old record")
        b = s.incident(user=ADMIN, title="after the overlay", x_vendor_ticket="VT-10")
        eq(b["number"], "INC-000002", "numbering goes on")
        s.stop_ok()
        p = s.cli("audit", "verify", "--data", s.data)
        eq(p.returncode, 0, "audit verify after a migration (%s)" % (p.stderr or p.stdout).strip()[-500:])
        s.start()
        eq(s.record(a["id"])["x_vendor_ticket"], "VT-9", "after a second restart")
        eq(s.record(b["id"])["x_vendor_ticket"], "VT-10", "after a second restart")


def test_priority_matrix_overlay(ctx):
    with ctx.new_site("matrix", overlays={"matrix.json": MATRIX_OVERLAY}) as s:
        for i in (1, 2, 3):
            for u in (1, 2, 3):
                inc = s.incident(user=ADMIN, title="m %d %d" % (i, u), impact=i, urgency=u)
                eq(inc["priority"], MATRIX2[i - 1][u - 1], "priority for impact %d urgency %d" % (i, u))
        inc = s.incident(user=ADMIN, title="recompute", impact=3, urgency=3)
        r = s.patch("/incidents/%d" % inc["id"], {"impact": 1}, version=1).expect(200)
        eq(r.json["priority"], MATRIX2[0][2], "priority after PATCH")
        # The matrix replaced only the configuration: the field is still computed.
        s.post("/incidents", {"title": "x", "priority": 1}).problem(422, "priority")


def test_bad_overlay_refused(ctx):
    bad = {"type": "incident", "fields": [{"name": "x_broken", "kind": "wibble"}]}
    with ctx.new_site("badoverlay", overlays={"broken.json": bad}, start=False) as s:
        p = s.cli("serve", "--data", s.data, "--listen", "127.0.0.1:%d" % free_port(), timeout=20)
        check(p.returncode != 0, "kanri serve started with a broken overlay")
        check("broken.json" in p.stderr, "the error does not name the file: %r" % p.stderr[-500:])
        with open(s.data + "/schema/broken.json", "w") as f:
            f.write("{not json")
        p = s.cli("serve", "--data", s.data, "--listen", "127.0.0.1:%d" % free_port(), timeout=20)
        check(p.returncode != 0, "kanri serve started with an overlay that is not JSON")
        check("broken.json" in p.stderr, "the error does not name the file: %r" % p.stderr[-500:])


def test_restart_keeps_everything(ctx):
    with ctx.new_site("restart", users=[("agent1", "agent")]) as s:
        g = s.create("groups", {"name": "network"})
        a = s.incident(user="agent1", title="survives", assignment_group="network", impact=1, urgency=1)
        s.transition(a["id"], "in_progress", user="agent1").expect(200)
        s.post("/incidents/%d/comments" % a["id"], {"body": "note", "kind": "work_note"}, user="agent1").expect(201)
        before = s.record(a["id"])
        journal = s.journal(a["id"])
        login = s.post("/session", {"name": ADMIN, "password": ADMIN_PASSWORD}, user=None).expect(200)
        cookie = [c for c in login.header_all("Set-Cookie") if c.startswith("kanri_session=")][0].split(";")[0]
        s.restart()
        eq(s.record(a["id"]), before, "record after restart")
        eq(s.journal(a["id"]), journal, "journal after restart")
        eq(s.record(g["id"], plural="groups")["name"], "network", "group after restart")
        s.get("/session", user=None, headers={"Cookie": cookie}).expect(200)
        b = s.incident(user="agent1", title="numbering after restart")
        eq(b["number"], "INC-000002", "numbering after restart")


def test_config_body_limit_and_secure_cookies(ctx):
    with ctx.new_site("config", config={"body_limit": 4096, "secure_cookies": True, "threads": 2}) as s:
        small = {"title": "small", "description": "s" * 2000}
        s.post("/incidents", small).expect(201)
        big = json.dumps({"title": "big", "description": "b" * 8000}).encode()
        s.request("POST", "/incidents", data=big).problem(413)
        eq(s.total(), 1, "incidents after a body over body_limit")
        r = s.post("/session", {"name": ADMIN, "password": ADMIN_PASSWORD}, user=None).expect(200)
        sc = [c for c in r.header_all("Set-Cookie") if c.startswith("kanri_session=")]
        check(sc and "secure" in [a.strip().lower() for a in sc[0].split(";")],
              "secure_cookies: the cookie is not Secure: %r" % sc)


def test_config_listen(ctx):
    with ctx.new_site("listen", start=False) as s:
        port = free_port()
        s.write_config(listen="127.0.0.1:%d" % port)
        s.start(listen_arg=False, port=port)
        s.get("/health", user=None).expect(200)
        check(not s.listen_line_missing, "kanri serve did not print its listening line")


def server_threads(s):
    return len(os.listdir("/proc/%d/task" % s.proc.pid))


def test_config_threads(ctx):
    if not os.path.isdir("/proc/self/task"):
        return  # thread counts are read from Linux /proc
    counts = {}
    for n in (3, 8):
        with ctx.new_site("threads%d" % n, config={"threads": n}) as s:
            s.get("/health", user=None).expect(200)
            counts[n] = server_threads(s)
    eq(counts[8] - counts[3], 5, "server threads with config threads 8 and 3 (%r)" % counts)


KINDS = {"type": "incident", "fields": [
    {"name": "x_count", "kind": "integer", "min": 0, "max": 10, "default": 2,
     "label": {"ja": "件数", "en": "Count"}},
    {"name": "x_flag", "kind": "boolean", "label": {"ja": "フラグ", "en": "Flag"}},
    {"name": "x_site", "kind": "enum", "label": {"ja": "拠点", "en": "Site"},
     "values": [{"value": "tokyo", "label": {"ja": "東京", "en": "Tokyo"}},
                {"value": "osaka", "label": {"ja": "大阪", "en": "Osaka"}}]},
    {"name": "x_due", "kind": "date", "label": {"ja": "期日", "en": "Due"}},
    {"name": "x_seen_at", "kind": "datetime", "label": {"ja": "確認日時", "en": "Seen at"}},
    {"name": "x_owner", "kind": "ref", "ref": "user", "label": {"ja": "責任者", "en": "Owner"}},
    {"name": "x_cost", "kind": "integer", "hidden": ["enduser"],
     "label": {"ja": "社内コスト", "en": "Internal cost"}},
]}


def test_custom_field_kinds(ctx):
    with ctx.new_site("kinds", overlays={"kinds.json": KINDS},
                      users=[("agent1", "agent"), ("cust", "enduser", "acme")]) as s:
        inc = s.incident(user="agent1", title="kinds", organisation="acme", x_flag=True, x_site="osaka",
                         x_due="2026-12-24", x_seen_at="2026-11-25T14:30:00+09:00", x_owner="agent1",
                         x_cost=120000)
        eq((inc["x_count"], inc["x_flag"], inc["x_site"], inc["x_due"], inc["x_owner"], inc["x_cost"]),
           (2, True, "osaka", "2026-12-24", "agent1", 120000), "custom values")
        check(inc["x_seen_at"] in ("2026-11-25T05:30:00Z", "2026-11-25T05:30:00.000Z"),
              "datetime stored in UTC: %r" % inc["x_seen_at"])
        for body, field in (({"x_count": 11}, "x_count"), ({"x_count": -1}, "x_count"),
                            ({"x_count": "3"}, "x_count"), ({"x_flag": "yes"}, "x_flag"),
                            ({"x_flag": 1}, "x_flag"), ({"x_site": "nagoya"}, "x_site"),
                            ({"x_due": "2026-02-30"}, "x_due"), ({"x_due": "24/12/2026"}, "x_due"),
                            ({"x_seen_at": "2026-11-25T14:30:00"}, "x_seen_at"),
                            ({"x_seen_at": "yesterday"}, "x_seen_at"), ({"x_owner": "nobody"}, "x_owner")):
            b = dict(body, title="bad " + field)
            s.post("/incidents", b, user="agent1").problem(422, field)
        eq(s.total(), 1, "incidents after refused custom values")
        eq(s.total("x_site=osaka&x_flag=true&x_count[gte]=2"), 1, "filters on custom fields")
        eq(s.total("x_seen_at[lt]=" + "2026-11-25T14:31:00%2B09:00"), 1, "datetime filter with a zone")
        eq(s.total("x_seen_at[gt]=" + "2026-11-25T05:31:00Z"), 0, "datetime filter in UTC")
        # The hidden field: not in the end user's record, list, journal or filters.
        mine = s.record(inc["id"], user="cust")
        check("x_cost" not in mine, "hidden field shown to an end user: %r" % mine)
        check("x_flag" in mine, "visible custom field missing for the end user")
        for path in ("/incidents/%d" % inc["id"], "/incidents?limit=10", "/incidents/%d/journal" % inc["id"]):
            r = s.get(path, user="cust").expect(200)
            check("120000" not in r.body.decode() and "x_cost" not in r.body.decode(),
                  "hidden field leaked to the end user in %s: %s" % (path, r))
        s.patch("/incidents/%d" % inc["id"], {"x_cost": 99999, "reason": "re-estimated"},
                version=1, user="agent1").expect(200)
        r = s.get("/incidents/%d/journal" % inc["id"], user="cust").expect(200)
        check("99999" not in r.body.decode(), "hidden field change leaked to the end user: %s" % r)
        r = s.get("/incidents?x_cost=99999", user="cust")
        check(r.status == 400 or (r.status == 200 and r.json["total"] == 0),
              "an end user can filter on a hidden field: %s" % r)
        m = s.get("/meta/types/incident").json
        check("x_cost" in fields_of(m), "hidden field in the agent's metadata")
