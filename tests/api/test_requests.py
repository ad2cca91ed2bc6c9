# SPDX-License-Identifier: Apache-2.0
"""Service requests: the request catalogue (offerings with their own forms),
approvals by the requester's manager, a service owner or a group manager,
fulfilment tasks done in order, the request completing with its tasks,
cancellation, organisation scoping; and incident models."""

from harness import check, eq, unique

FORM = [
    {"name": "device", "kind": "enum", "required": True, "label": {"ja": "機種", "en": "Model"},
     "values": [{"value": "laptop", "label": {"ja": "ノートPC", "en": "Laptop"}}, "desktop"]},
    {"name": "reason", "kind": "longtext", "required": True, "max": 500,
     "label": {"ja": "理由", "en": "Reason"}},
    {"name": "count", "kind": "integer", "min": 1, "max": 5, "label": {"ja": "台数", "en": "Count"}},
    {"name": "needed_by", "kind": "date", "label": {"ja": "希望日", "en": "Needed by"}},
]

_setup = {}


def setup(ctx):
    """Groups, people with managers and published offerings (made once)."""
    if _setup:
        return _setup
    g1, g2 = unique("desk"), unique("kit")
    ctx.create("groups", {"name": g1})
    ctx.create("groups", {"name": g2})
    mgr = unique("mgr")
    ctx.add_user(mgr, "enduser", org="acme")
    ctx.add_user("svcowner", "agent,service_owner")
    ctx.create("people", {"user": "eve", "display_name": "山田 花子", "manager": mgr})
    ctx.create("people", {"user": "erin", "display_name": "Erin"})
    svc = unique("svc")
    ctx.create("services", {"name": svc, "owner": "svcowner"})

    def offering(approval="none", **kw):
        body = {"name": unique("ofr"), "title": "PC の貸与", "category": "hardware", "form": FORM,
                "approval": approval, "fulfilment_group": g1,
                "fulfilment": [{"title": "在庫確認", "instructions": "check the stock room"},
                               {"title": "キッティング", "group": g2,
                                "instructions": "image the laptop"}]}
        body.update(kw)
        o = ctx.create("offerings", body)
        ctx.transition(o["id"], "published", user="admin", plural="offerings").expect(200)
        return o["name"]

    _setup.update(g1=g1, g2=g2, mgr=mgr, svc=svc, offering=offering,
                  plain=offering(), by_manager=offering("manager"),
                  by_owner=offering("service_owner", service=svc))
    return _setup


def answers(**kw):
    a = {"device": "laptop", "reason": "新入社員用", "count": 1}
    a.update(kw)
    return a


def tasks_of(ctx, req, user="admin"):
    return ctx.get("/tasks?request=%s&sort=sequence" % req, user=user).expect(200).json["items"]


def test_offering_forms_are_checked(ctx):
    setup(ctx)
    bad_forms = [
        [{"name": "x", "kind": "wibble", "label": {"ja": "x", "en": "x"}}],
        [{"name": "Bad Name", "kind": "text", "label": {"ja": "x", "en": "x"}}],
        [{"name": "x", "kind": "enum", "label": {"ja": "x", "en": "x"}}],
        [{"name": "x", "kind": "text"}],
        {"not": "a list"},
    ]
    for form in bad_forms:
        name = unique("bad")
        r = ctx.post("/offerings", {"name": name, "title": "x", "form": form})
        r.expect(422)
        eq(r.json.get("field"), "form", "the form is named: %s" % r.json)
        ctx.get("/offerings/%s" % name).expect(404)
    r = ctx.post("/offerings", {"name": unique("bad"), "title": "x",
                                "fulfilment": [{"title": "x", "group": "no-such-group"}]})
    r.expect(422)
    eq(r.json.get("field"), "fulfilment", "steps are checked")
    r = ctx.post("/offerings", {"name": unique("bad"), "title": "x", "form": "[]"})
    r.expect(422)
    o = ctx.record(setup(ctx)["plain"], plural="offerings")
    eq(o["form"], FORM, "the form is given back as JSON, as written")


def test_catalogue_visibility(ctx):
    s = setup(ctx)
    draft = unique("ofr")
    ctx.create("offerings", {"name": draft, "title": "draft offering"})
    internal = unique("ofr")
    ctx.create("offerings", {"name": internal, "title": "agents only", "audience": "agents"})
    ctx.transition(internal, "published", user="admin", plural="offerings").expect(200)
    names = [o["name"] for o in ctx.list_all("", user="eve", plural="offerings")]
    check(s["plain"] in names, "a published offering is in the portal catalogue")
    check(draft not in names and internal not in names, "no drafts, no agents-only offerings")
    ctx.get("/offerings/%s" % draft, user="eve").expect(404)
    r = ctx.post("/requests", {"offering": internal, "answers": {}}, user="eve")
    check(r.status in (403, 404, 422), "an end user cannot request an agents-only offering: %s" % r)
    r = ctx.post("/requests", {"offering": draft}, user="alice")
    r.expect(422)
    eq(r.json.get("field"), "offering", "a draft offering takes no requests")


def test_request_without_approval_runs_its_tasks_in_order(ctx):
    s = setup(ctx)
    req = ctx.create("requests", {"offering": s["plain"], "answers": answers(needed_by="2026-12-01")},
                     user="eve")
    eq((req["state"], req["approval_state"], req["requester"], req["organisation"]),
       ("in_fulfilment", "not_required", "eve", "acme"), "fulfilment started at once")
    eq(req["title"], "PC の貸与", "title from the offering")
    eq(req["assignment_group"], s["g1"], "the offering's fulfilment group")
    eq(req["answers"]["device"], "laptop", "answers given back as JSON")
    tasks = tasks_of(ctx, req["number"])
    eq([(t["sequence"], t["title"], t["state"]) for t in tasks],
       [(1, "在庫確認", "open"), (2, "キッティング", "pending")], "tasks in order, the first ready")
    eq([t["assignment_group"] for t in tasks], [s["g1"], s["g2"]], "task groups")
    eq(tasks[1]["instructions"], "image the laptop", "fulfillers see the instructions")
    mine = tasks_of(ctx, req["number"], user="eve")
    eq(len(mine), 2, "the requester follows the tasks")
    check("instructions" not in mine[0], "but does not see the instructions")
    eq(tasks_of(ctx, req["number"], user="mallory"), [], "another organisation sees nothing")
    ctx.get("/requests/%s" % req["number"], user="mallory").expect(404)
    # not completed by hand while tasks are open
    r = ctx.transition(req["number"], "fulfilled", plural="requests")
    r.expect(422)
    ctx.transition(tasks[0]["number"], "done", plural="tasks").expect(200)
    tasks = tasks_of(ctx, req["number"])
    eq([t["state"] for t in tasks], ["done", "open"], "the next task is ready")
    eq(ctx.record(req["id"], plural="requests")["state"], "in_fulfilment", "not done yet")
    ctx.transition(tasks[1]["number"], "in_progress", plural="tasks").expect(200)
    ctx.transition(tasks[1]["number"], "done", plural="tasks").expect(200)
    rec = ctx.record(req["id"], plural="requests")
    eq(rec["state"], "fulfilled", "fulfilled with its last task")
    check(rec["fulfilled_at"], "fulfilled_at set")
    ctx.transition(req["number"], "closed", user="eve", plural="requests").expect(200)
    p = ctx.cli("audit", "verify", "--data", ctx.data)
    eq(p.returncode, 0, "audit verify: %s" % p.stdout[-300:])


def test_bad_answers_write_nothing(ctx):
    s = setup(ctx)
    cases = [
        (answers(device="tablet"), "answers.device"),
        ({"device": "laptop"}, "answers.reason"),
        (answers(count=9), "answers.count"),
        (answers(count="two"), "answers.count"),
        (answers(needed_by="next week"), "answers.needed_by"),
        (answers(colour="red"), "answers"),
    ]
    before = ctx.total("", plural="requests"), ctx.total("", plural="tasks")
    for a, field in cases:
        r = ctx.post("/requests", {"offering": s["plain"], "answers": a}, user="eve")
        r.expect(422)
        eq(r.json.get("field"), field, "field for %r" % a)
    r = ctx.post("/requests", {"offering": s["plain"], "answers": "device=laptop"}, user="eve")
    r.expect(422)
    eq((ctx.total("", plural="requests"), ctx.total("", plural="tasks")), before,
       "no request and no task written")


def test_manager_approval(ctx):
    s = setup(ctx)
    req = ctx.create("requests", {"offering": s["by_manager"], "answers": answers()}, user="eve")
    eq((req["state"], req["approval_state"], req["approver"]),
       ("awaiting_approval", "requested", s["mgr"]), "waiting for eve's manager")
    eq(tasks_of(ctx, req["number"]), [], "no tasks before the approval")
    eq(ctx.total("request=%s" % req["number"], user="eve", plural="approvals"), 0,
       "the requester does not see the approval")
    apv = ctx.get("/approvals?request=%s" % req["number"], user=s["mgr"]).expect(200).json["items"]
    eq(len(apv), 1, "the manager sees it")
    eq(apv[0]["summary"], "PC の貸与", "what is to be approved")
    ctx.transition(apv[0]["number"], "approved", user="eve", plural="approvals").expect(404)
    ctx.transition(apv[0]["number"], "approved", user=s["mgr"], plural="approvals").expect(200)
    rec = ctx.record(req["id"], plural="requests")
    eq((rec["state"], rec["approval_state"]), ("in_fulfilment", "approved"), "approved")
    eq(len(tasks_of(ctx, req["number"])), 2, "fulfilment started")
    j = ctx.journal(req["id"], plural="requests")
    check(any(apv[0]["number"] in (e.get("reason") or "") for e in j), "the approval is in the history")
    # a rejection needs a reason and ends the request
    req2 = ctx.create("requests", {"offering": s["by_manager"], "answers": answers()}, user="eve")
    a2 = ctx.get("/approvals?request=%s" % req2["number"], user=s["mgr"]).expect(200).json["items"][0]
    r = ctx.transition(a2["number"], "rejected", user=s["mgr"], plural="approvals")
    r.expect(422)
    eq(r.json.get("field"), "reason", "reason required")
    ctx.transition(a2["number"], "rejected", user=s["mgr"], plural="approvals",
                   reason="予算外").expect(200)
    rec = ctx.record(req2["id"], plural="requests")
    eq((rec["state"], rec["approval_state"]), ("rejected", "rejected"), "rejected")
    eq(tasks_of(ctx, req2["number"]), [], "no tasks for a rejected request")


def test_no_manager_no_request(ctx):
    s = setup(ctx)
    before = ctx.total("", plural="requests")
    r = ctx.post("/requests", {"offering": s["by_manager"], "answers": answers()}, user="erin")
    r.expect(422)
    check("manager" in r.json["detail"], "says the manager is missing: %s" % r.json)
    r = ctx.post("/requests", {"offering": s["by_manager"], "answers": answers()}, user="mallory")
    r.expect(422)
    eq(ctx.total("", plural="requests"), before, "nothing written")


def test_service_owner_approval(ctx):
    s = setup(ctx)
    req = ctx.create("requests", {"offering": s["by_owner"], "answers": answers()}, user="alice")
    eq((req["approver"], req["requester"]), ("svcowner", "alice"), "the service owner approves")
    a = ctx.get("/approvals?request=%s" % req["number"], user="svcowner").expect(200).json["items"]
    eq(len(a), 1, "one approval for the owner")


def test_cancel_cancels_the_work(ctx):
    s = setup(ctx)
    req = ctx.create("requests", {"offering": s["plain"], "answers": answers()}, user="eve")
    r = ctx.transition(req["number"], "cancelled", user="eve", plural="requests")
    r.expect(422)
    ctx.transition(req["number"], "cancelled", user="eve", plural="requests",
                   reason="もう不要").expect(200)
    eq([t["state"] for t in tasks_of(ctx, req["number"])], ["cancelled", "cancelled"],
       "open and waiting tasks cancelled")
    req2 = ctx.create("requests", {"offering": s["by_manager"], "answers": answers()}, user="eve")
    ctx.transition(req2["number"], "cancelled", user="eve", plural="requests",
                   reason="間違い").expect(200)
    a = ctx.get("/approvals?request=%s" % req2["number"]).expect(200).json["items"]
    eq([x["state"] for x in a], ["cancelled"], "the approval is withdrawn")
    ctx.transition(req["number"], "cancelled", user="mallory", plural="requests",
                   reason="x").expect(404)


def test_incident_model_fills_fields_and_tasks(ctx):
    g = unique("mdlg")
    ctx.create("groups", {"name": g})
    name = unique("mdl")
    ctx.create("incident_models", {
        "name": name, "display_name": "パスワードリセット", "title": "パスワードを忘れた",
        "category": "access", "subcategory": "password", "impact": 3, "urgency": 2,
        "assignment_group": g,
        "tasks": [{"title": "本人確認", "instructions": "call back on the registered number"},
                  {"title": "仮パスワード発行"}]})
    inc = ctx.create("incidents", {"model": name, "description": "ログインできない"}, user="alice")
    eq((inc["title"], inc["category"], inc["subcategory"], inc["urgency"], inc["priority"]),
       ("パスワードを忘れた", "access", "password", 2, 4), "fields from the model")
    eq(inc["assignment_group"], g, "group from the model")
    own = ctx.create("incidents", {"model": name, "title": "my own title", "urgency": 1}, user="alice")
    eq((own["title"], own["urgency"]), ("my own title", 1), "what the agent gives wins")
    t = ctx.get("/tasks?incident=%s&sort=sequence" % inc["number"]).expect(200).json["items"]
    eq([(x["title"], x["state"], x["assignment_group"]) for x in t],
       [("本人確認", "open", g), ("仮パスワード発行", "open", g)], "the model's tasks, all ready")
    bad = unique("mdl")
    ctx.create("incident_models", {"name": bad, "category": "nonsense"})
    r = ctx.post("/incidents", {"model": bad, "title": "x"}, user="alice")
    r.expect(422)
    eq(r.json.get("field"), "model", "a model with a bad value is refused by name")
    r = ctx.post("/incident_models", {"name": unique("mdl"), "tasks": [{"group": g}]})
    r.expect(422)
    eq(r.json.get("field"), "tasks", "a task needs a title")


def test_requester_of_another_organisation_refused(ctx):
    s = setup(ctx)
    before = ctx.total("", plural="requests")
    r = ctx.post("/requests", {"offering": s["plain"], "answers": answers(), "organisation": "globex"},
                 user="eve")
    r.expect(403)
    eq(r.json.get("field"), "organisation", "organisation named")
    r = ctx.post("/requests", {"offering": s["plain"], "answers": answers(), "requester": "mallory"},
                 user="eve")
    r.expect(403)
    eq(r.json.get("field"), "requester", "an end user requests for themselves")
    eq(ctx.total("", plural="requests"), before, "nothing written")
    # an agent logs a request for a caller
    r = ctx.post("/requests", {"offering": s["plain"], "answers": answers(), "requester": "eve",
                               "organisation": "acme"}, user="alice").expect(201)
    eq((r.json["requester"], r.json["organisation"]), ("eve", "acme"), "logged for eve")
