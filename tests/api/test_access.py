# SPDX-License-Identifier: Apache-2.0
"""Organisation scoping of end users; the read-only auditor."""

from harness import check, eq, unique


def test_enduser_sees_own_org_only(ctx):
    tag = unique("org")
    mine = ctx.incident(user="eve", title="%s acme" % tag)
    colleague = ctx.incident(user="erin", title="%s acme colleague" % tag)
    theirs = ctx.incident(user="mallory", title="%s globex secret" % tag)
    eq(theirs["organisation"], "globex", "mallory's incident organisation")
    agents = ctx.incident(user="alice", title="%s for globex" % tag, organisation="globex")
    items = ctx.list_all("title[contains]=%s" % tag, user="eve")
    eq(sorted(i["id"] for i in items), sorted([mine["id"], colleague["id"]]), "eve's list")
    # Every incident eve can list is acme's.
    all_eve = ctx.list_all("", user="eve")
    check(all(i["organisation"] == "acme" for i in all_eve), "eve lists another organisation's incident")
    eq(ctx.total("", user="eve"), ctx.total("organisation=acme"), "eve's total")
    eq(ctx.total("organisation=globex", user="eve"), 0, "eve filtering for globex")
    items = ctx.list_all("title[contains]=%s" % tag, user="mallory")
    eq(sorted(i["id"] for i in items), sorted([theirs["id"], agents["id"]]), "mallory's list")
    # Agents see both organisations.
    eq(len(ctx.list_all("title[contains]=%s" % tag, user="alice")), 4, "alice's list")
    # Nothing of globex reaches eve, by id or by number.
    for rec in (theirs, agents):
        for ref in (rec["id"], rec["number"]):
            for sub in ("", "/comments", "/journal", "/relations"):
                r = ctx.get("/incidents/%s%s" % (ref, sub), user="eve")
                r.expect(403, 404)
                check(tag not in r.body.decode(), "globex data leaked to eve: %s" % r)


def test_enduser_create_forced_to_own_org(ctx):
    tag = unique("own")
    r = ctx.post("/incidents", {"title": tag + " no org"}, user="eve").expect(201)
    eq(r.json["organisation"], "acme", "organisation of an end user's incident")
    eq(r.json["created_by"], "eve", "created_by")
    r = ctx.post("/incidents", {"title": tag + " same org", "organisation": "acme"}, user="eve").expect(201)
    eq(r.json["organisation"], "acme", "organisation")
    before = ctx.total()
    ctx.post("/incidents", {"title": tag + " other org", "organisation": "globex"}, user="eve").problem(403)
    eq(ctx.total(), before, "incidents after a create for another organisation")
    eq(ctx.total("title[contains]=%s" % tag, user="mallory"), 0, "mallory sees eve's incidents")


def test_enduser_cannot_update(ctx):
    inc = ctx.incident(user="eve", title="eve may not edit")
    ctx.patch("/incidents/%d" % inc["id"], {"title": "edited"}, version=1, user="eve").problem(403)
    ctx.patch("/incidents/%d" % inc["id"], {"organisation": "globex"}, version=1, user="eve").problem(403)
    got = ctx.record(inc["id"])
    eq((got["title"], got["organisation"], got["version"]), ("eve may not edit", "acme", 1), "record")


def test_enduser_cannot_move_record_to_other_org(ctx):
    inc = ctx.incident(user="eve", title="keep in acme")
    ctx.transition(inc["id"], "resolved", resolution_code="fixed", resolution_notes="done").expect(200)
    r = ctx.transition(inc["id"], "in_progress", user="eve", organisation="globex")
    r.expect(403, 422)
    got = ctx.record(inc["id"])
    eq((got["organisation"], got["state"]), ("acme", "resolved"), "record after the attempt")


def test_enduser_cannot_comment_other_org(ctx):
    theirs = ctx.incident(user="mallory", title="globex only")
    ctx.post("/incidents/%d/comments" % theirs["id"], {"body": "hi", "kind": "comment"},
             user="eve").expect(403, 404)
    eq(ctx.get("/incidents/%d/comments" % theirs["id"]).expect(200).json["items"], [], "comments")


def test_enduser_no_groups(ctx):
    ctx.get("/groups", user="eve").expect(403)
    ctx.post("/groups", {"name": unique("eveg")}, user="eve").problem(403)


def test_auditor_reads_everything(ctx):
    inc = ctx.incident(user="mallory", title="audited")
    ctx.post("/incidents/%d/comments" % inc["id"], {"body": "note", "kind": "work_note"},
             user="alice").expect(201)
    eq(ctx.total("", user="audrey"), ctx.total(""), "auditor's total")
    ctx.get("/incidents/%d" % inc["id"], user="audrey").expect(200)
    ctx.get("/incidents/%s/journal" % inc["number"], user="audrey").expect(200)
    items = ctx.get("/incidents/%d/comments" % inc["id"], user="audrey").expect(200).json["items"]
    eq([i["kind"] for i in items], ["work_note"], "auditor sees work notes")
    ctx.get("/incidents/%d/relations" % inc["id"], user="audrey").expect(200)
    ctx.get("/groups", user="audrey").expect(200)
    ctx.get("/meta/types", user="audrey").expect(200)


def test_auditor_writes_403(ctx):
    inc = ctx.incident(title="auditor must not touch")
    other = ctx.incident(title="relation target")
    rel = ctx.post("/incidents/%d/relations" % inc["id"],
                   {"kind": "relates_to", "target": "incidents/" + other["number"]}).expect(201).json
    total = ctx.total()
    jn = len(ctx.journal(inc["id"]))
    i = inc["id"]
    ctx.post("/incidents", {"title": "by auditor"}, user="audrey").problem(403)
    ctx.patch("/incidents/%d" % i, {"title": "by auditor"}, version=1, user="audrey").problem(403)
    ctx.transition(i, "in_progress", user="audrey").problem(403)
    ctx.post("/incidents/%d/comments" % i, {"body": "x", "kind": "comment"}, user="audrey").problem(403)
    ctx.post("/incidents/%d/comments" % i, {"body": "x", "kind": "work_note"}, user="audrey").problem(403)
    ctx.post("/incidents/%d/relations" % i, {"kind": "blocks", "target": "incidents/" + other["number"]},
             user="audrey").problem(403)
    ctx.delete("/incidents/%d/relations/%d" % (i, rel["id"]), user="audrey").problem(403)
    ctx.post("/groups", {"name": unique("audg")}, user="audrey").problem(403)
    eq(ctx.total(), total, "incidents after auditor writes")
    got = ctx.record(i)
    eq((got["version"], got["state"], got["title"]), (1, "new", "auditor must not touch"), "record")
    eq(len(ctx.journal(i)), jn, "journal after auditor writes")
    eq(len(ctx.get("/incidents/%d/relations" % i).json["items"]), 1, "relations after auditor writes")


def test_enduser_relations_hide_other_org(ctx):
    mine = ctx.incident(user="eve", title="acme side of a relation")
    theirs = ctx.incident(user="mallory", title="globex side of a relation")
    ctx.post("/incidents/%d/relations" % mine["id"],
             {"kind": "relates_to", "target": "incidents/" + theirs["number"]}).expect(201)
    eq(len(ctx.get("/incidents/%d/relations" % mine["id"], user="alice").expect(200).json["items"]), 1,
       "agent's view")
    r = ctx.get("/incidents/%d/relations" % mine["id"], user="eve").expect(200)
    check(theirs["number"] not in r.body.decode() and '"to_id":%d' % theirs["id"] not in r.body.decode(),
          "a globex record shows in eve's relations: %s" % r)
    # An end user cannot relate records.
    ctx.post("/incidents/%d/relations" % mine["id"], {"kind": "blocks", "target": "incidents/" + mine["number"]},
             user="eve").expect(403, 422)
