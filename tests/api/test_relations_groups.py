# SPDX-License-Identifier: Apache-2.0
"""Relations between records; support groups and references to them."""

import re

from harness import check, eq, unique


def rels(ctx, ref, user="alice"):
    r = ctx.get("/incidents/%s/relations" % ref, user=user).expect(200)
    check(isinstance(r.json.get("items"), list), "relations is not {items: [...]}: %s" % r)
    return r.json["items"]


def test_relations_create_list_delete(ctx):
    a = ctx.incident(title="rel source")
    b = ctx.incident(title="rel target")
    c = ctx.incident(title="rel other")
    r = ctx.post("/incidents/%s/relations" % a["number"],
                 {"kind": "caused_by", "target": "incidents/" + b["number"]}, user="alice").expect(201)
    rel = r.json
    check(isinstance(rel.get("id"), int), "relation has an id: %s" % r)
    eq(rel.get("kind"), "caused_by", "kind")
    ctx.post("/incidents/%d/relations" % a["id"],
             {"kind": "relates_to", "target": "incidents/%s" % c["number"]}, user="alice").expect(201)
    items = rels(ctx, a["id"])
    eq(sorted(i.get("kind") for i in items), ["caused_by", "relates_to"], "relations of a")
    check(b["number"] in str(items) or str(b["id"]) in str(items), "target named in the list: %r" % items)
    # The target sees the relation too.
    eq([i.get("id") for i in rels(ctx, b["number"])], [rel["id"]], "relations of b")
    # The same relation again is a conflict.
    ctx.post("/incidents/%d/relations" % a["id"],
             {"kind": "caused_by", "target": "incidents/" + b["number"]}, user="alice").problem(409)
    eq(len(rels(ctx, a["id"])), 2, "relations after a duplicate")
    # Delete.
    ctx.delete("/incidents/%d/relations/%d" % (a["id"], rel["id"]), user="alice").expect(204)
    eq([i.get("kind") for i in rels(ctx, a["id"])], ["relates_to"], "relations after delete")
    eq(rels(ctx, b["id"]), [], "relations of b after delete")
    ctx.delete("/incidents/%d/relations/%d" % (a["id"], rel["id"]), user="alice").problem(404)
    # Journalled on the source.
    actions = [e.get("action") for e in ctx.journal(a["id"])]
    check(len(actions) >= 4, "relating and unrelating are journalled: %r" % actions)


def test_relation_validation(ctx):
    a = ctx.incident(title="rel checks")
    b = ctx.incident(title="rel checks target")
    path = "/incidents/%d/relations" % a["id"]
    ctx.post(path, {"kind": "loves", "target": "incidents/" + b["number"]}).problem(422, "kind")
    ctx.post(path, {"kind": "blocks"}).problem(422, "target")
    ctx.post(path, {"kind": "blocks", "target": "incidents/INC-999999"}).expect(404, 422)
    ctx.post(path, {"kind": "blocks", "target": "nosuchtype/1"}).expect(404, 422)
    ctx.post(path, {"kind": "blocks", "target": 5}).problem(422, "target")
    ctx.post("/incidents/999999999/relations", {"kind": "blocks", "target": "incidents/" + b["number"]}).problem(404)
    eq(rels(ctx, a["id"]), [], "relations after refused requests")
    ctx.delete("/incidents/%d/relations/999999999" % a["id"]).problem(404)


def test_all_relation_kinds(ctx):
    a = ctx.incident(title="kinds")
    b = ctx.incident(title="kinds target")
    for k in ("relates_to", "caused_by", "duplicate_of", "parent_of", "child_of", "blocks"):
        ctx.post("/incidents/%d/relations" % a["id"], {"kind": k, "target": "incidents/" + b["number"]}).expect(201)
    eq(len(rels(ctx, a["id"])), 6, "six kinds")


def test_relation_to_a_group(ctx):
    g = ctx.create("groups", {"name": unique("relg")})
    a = ctx.incident(title="incident to group")
    ctx.post("/incidents/%d/relations" % a["id"],
             {"kind": "relates_to", "target": "groups/" + g["number"]}).expect(201)
    eq(len(rels(ctx, a["id"])), 1, "relation across types")


def test_groups_create_as_admin(ctx):
    name = unique("network")
    r = ctx.post("/groups", {"name": name, "display_name": "ネットワーク班", "tier": 2,
                             "manager": "alice", "email": "net@example.com"}).expect(201)
    g = r.json
    check(re.match(r"^GRP-\d{4}$", g.get("number") or ""), "group number GRP-0000: %r" % g.get("number"))
    eq((g["name"], g["display_name"], g["tier"], g["manager"], g["state"]),
       (name, "ネットワーク班", 2, "alice", "active"), "group")
    eq(ctx.get("/groups/%s" % g["number"], user="alice").expect(200).json["name"], name, "read back")
    items = ctx.list_all("name=%s" % name, plural="groups", user="audrey")
    eq([i["id"] for i in items], [g["id"]], "group in the list")


def test_group_validation(ctx):
    name = unique("dup")
    g = ctx.create("groups", {"name": name})
    total = ctx.total(plural="groups")
    ctx.post("/groups", {"name": name}).problem(409)
    ctx.post("/groups", {"display_name": "no name"}).problem(422, "name")
    ctx.post("/groups", {"name": "n" * 65}).problem(422, "name")
    ctx.post("/groups", {"name": unique("t"), "tier": 4}).problem(422, "tier")
    ctx.post("/groups", {"name": unique("m"), "manager": "nobody"}).problem(422, "manager")
    eq(ctx.total(plural="groups"), total, "groups after refused creates")
    # The name is immutable; other fields can change.
    ctx.patch("/groups/%d" % g["id"], {"name": name + "x"}, version=1).problem(422, "name")
    r = ctx.patch("/groups/%d" % g["id"], {"display_name": "Renamed"}, version=1).expect(200)
    eq((r.json["name"], r.json["display_name"]), (name, "Renamed"), "group after PATCH")


def test_agent_cannot_create_group(ctx):
    total = ctx.total(plural="groups")
    ctx.post("/groups", {"name": unique("agentg")}, user="alice").problem(403)
    g = ctx.create("groups", {"name": unique("ro")})
    ctx.patch("/groups/%d" % g["id"], {"display_name": "x"}, version=1, user="alice").problem(403)
    eq(ctx.total(plural="groups"), total + 1, "groups")


def test_assignment_group_reference(ctx):
    name = unique("svc")
    ctx.create("groups", {"name": name})
    inc = ctx.incident(title="assigned", assignment_group=name, assignee="alice", caller="eve")
    eq((inc["assignment_group"], inc["assignee"], inc["caller"]), (name, "alice", "eve"), "refs")
    total = ctx.total()
    ctx.post("/incidents", {"title": "x", "assignment_group": name + "-missing"}).problem(422, "assignment_group")
    ctx.post("/incidents", {"title": "x", "assignment_group": 7}).problem(422, "assignment_group")
    ctx.post("/incidents", {"title": "x", "assignee": "nobody"}).problem(422, "assignee")
    eq(ctx.total(), total, "incidents after refused references")
    ctx.patch("/incidents/%d" % inc["id"], {"assignment_group": "missing-" + name},
              version=1).problem(422, "assignment_group")
    eq(ctx.record(inc["id"])["assignment_group"], name, "group after a refused PATCH")
    eq(ctx.total("assignment_group=%s" % name), 1, "list by group")


def test_group_retire(ctx):
    g = ctx.create("groups", {"name": unique("old")})
    r = ctx.post("/groups/%d/transition" % g["id"], {"to": "retired"}).expect(200)
    eq(r.json["state"], "retired", "state")
    ctx.post("/groups/%d/transition" % g["id"], {"to": "active"}, user="alice").problem(403)
