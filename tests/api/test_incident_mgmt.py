# SPDX-License-Identifier: Apache-2.0
"""Incident management in full: subcategories, functional and hierarchical
escalation, counters, parent and child incidents, major incidents with their
review and notifications, security incidents, timers (escalation, automatic
closure) and process roles."""

import time

from harness import check, eq, free_port, unique

_users = {}


def users(ctx):
    """Process-role users of the main site (made once)."""
    if not _users:
        ctx.add_user("sam", "agent,security")
        ctx.add_user("ivan", "agent,incident_manager")
        ctx.add_user("tom", "auditor,top_management")
        _users["done"] = True


def group(ctx, tier=1, manager=None):
    name = unique("g")
    body = {"name": name, "tier": tier}
    if manager:
        body["manager"] = manager
    ctx.create("groups", body)
    return name


def service(ctx, criticality):
    name = unique("svc")
    ctx.create("services", {"name": name, "display_name": name, "criticality": criticality})
    return name


def resolve(ctx, ref, user="alice", **kw):
    body = dict(resolution_code="fixed", resolution_notes="restarted the service")
    body.update(kw)
    return ctx.transition(ref, "resolved", user=user, **body)


def test_subcategory_belongs_to_its_category(ctx):
    meta = ctx.get("/meta/types/incident").expect(200).json
    sub = [f for f in meta["fields"] if f["name"] == "subcategory"][0]
    eq(sub["parent_field"], "category", "metadata parent_field")
    check(any(v["value"] == "vpn" and v["parent"] == "network" for v in sub["values"]),
          "vpn is listed under network")
    inc = ctx.incident(category="network", subcategory="vpn")
    eq(inc["subcategory"], "vpn", "subcategory stored")
    tag = unique("sub")
    before = ctx.total("title[contains]=" + tag)
    r = ctx.post("/incidents", {"title": tag, "category": "software", "subcategory": "vpn"},
                 user="alice")
    r.expect(422)
    eq(r.json.get("field"), "subcategory", "field named")
    check("network" in r.json["detail"], "the detail names the right category: %s" % r.json)
    r = ctx.post("/incidents", {"title": tag, "subcategory": "vpn"}, user="alice")
    r.expect(422)
    eq(ctx.total("title[contains]=" + tag), before, "nothing written")
    # changing the category away from the subcategory is refused too
    r = ctx.patch("/incidents/%s" % inc["number"], {"category": "hardware"}, version=inc["version"],
                  user="alice")
    r.expect(422)
    eq(ctx.record(inc["id"])["category"], "network", "unchanged")


def test_functional_escalation(ctx):
    l1, l2 = group(ctx, 1), group(ctx, 2)
    inc = ctx.incident(assignment_group=l1)
    eq(inc["escalation_count"], 0, "no escalation yet")
    ref = inc["number"]
    # a reason is required, and the group must change
    r = ctx.post("/incidents/%s/transition" % ref, {"transition": "escalate", "assignment_group": l2},
                 user="alice")
    r.expect(422)
    eq(r.json.get("field"), "reason", "reason named")
    r = ctx.post("/incidents/%s/transition" % ref,
                 {"transition": "escalate", "assignment_group": l1, "reason": "x"}, user="alice")
    r.expect(422)
    eq(r.json.get("field"), "assignment_group", "group must change")
    r = ctx.post("/incidents/%s/transition" % ref,
                 {"transition": "escalate", "assignment_group": l2, "reason": "x"}, user="eve")
    check(r.status in (403, 404), "an end user cannot escalate: %s" % r)
    eq(ctx.record(inc["id"])["version"], inc["version"], "nothing written by the refusals")
    r = ctx.post("/incidents/%s/transition" % ref,
                 {"transition": "escalate", "assignment_group": l2,
                  "reason": "needs database skills"}, user="alice").expect(200)
    eq(r.json["state"], "new", "an escalation keeps the state")
    eq(r.json["assignment_group"], l2, "new group")
    eq(r.json["escalation_count"], 1, "escalation counted")
    eq(r.json["reassignment_count"], 1, "a change of group is a reassignment")
    esc = ctx.get("/incidents/%s/journal?action=escalate" % ref).expect(200).json["items"]
    eq(len(esc), 1, "one escalation in the journal")
    eq(esc[0]["reason"], "needs database skills", "reason journalled")
    changes = {c["field"]: c for c in esc[0]["changes"]}
    eq((changes["assignment_group"]["old"], changes["assignment_group"]["new"]), (l1, l2),
       "group change journalled")
    meta = ctx.get("/meta/types/incident").expect(200).json
    tr = [t for t in meta["transitions"] if t["name"] == "escalate"][0]
    check(tr["stay"] and tr["requires_reason"] and tr["to"] is None, "metadata: %s" % tr)


def test_reassignment_and_reopen_counts(ctx):
    g1, g2, g3 = group(ctx), group(ctx), group(ctx)
    inc = ctx.incident()
    r = ctx.patch("/incidents/%s" % inc["id"], {"assignment_group": g1}, version=1, user="alice")
    eq(r.expect(200).json["reassignment_count"], 0, "the first assignment is no reassignment")
    r = ctx.patch("/incidents/%s" % inc["id"], {"assignment_group": g2}, version=2, user="alice")
    eq(r.expect(200).json["reassignment_count"], 1, "reassigned once")
    r = ctx.patch("/incidents/%s" % inc["id"], {"assignment_group": g3}, version=3, user="alice")
    eq(r.expect(200).json["reassignment_count"], 2, "reassigned twice")
    r = ctx.patch("/incidents/%s" % inc["id"], {"reassignment_count": 0}, version=4, user="alice")
    r.expect(422)
    resolve(ctx, inc["id"]).expect(200)
    r = ctx.transition(inc["id"], "in_progress").expect(200)
    eq(r.json["reopen_count"], 1, "reopened once")
    resolve(ctx, inc["id"]).expect(200)
    r = ctx.transition(inc["id"], "in_progress").expect(200)
    eq(r.json["reopen_count"], 2, "reopened twice")
    r = ctx.get("/incidents?reopen_count[gte]=2&id=%d" % inc["id"]).expect(200)
    eq(r.json["total"], 1, "counters can be filtered")


def test_parent_resolves_children(ctx):
    parent = ctx.incident(title="mail outage")
    kids = [ctx.incident(title="cannot send mail %d" % i, parent=parent["number"]) for i in range(3)]
    ctx.transition(kids[0]["id"], "in_progress").expect(200)
    ctx.transition(kids[2]["id"], "cancelled").expect(200)
    lst = ctx.get("/incidents?parent=%s" % parent["number"]).expect(200).json
    eq(lst["total"], 3, "children listed by parent")
    r = ctx.post("/incidents", {"title": "x", "parent": "INC-999999"}, user="alice")
    r.expect(422)
    resolve(ctx, parent["id"], resolution_code="workaround", resolution_notes="rerouted via backup relay",
            workaround="use webmail").expect(200)
    for k in kids[:2]:
        rec = ctx.record(k["id"])
        eq(rec["state"], "resolved", "child resolved with its parent")
        eq((rec["resolution_code"], rec["resolution_notes"], rec["workaround"]),
           ("workaround", "rerouted via backup relay", "use webmail"), "same resolution")
        check(rec["resolved_at"], "resolved_at set on the child")
        j = ctx.journal(k["id"])[-1]
        eq(j["action"], "transition", "journalled as a transition")
        eq(j["actor"], "alice", "on behalf of who resolved the parent")
        check(parent["number"] in (j["reason"] or ""), "the reason names the parent: %s" % j)
    eq(ctx.record(kids[2]["id"])["state"], "cancelled", "a cancelled child stays cancelled")
    ctx.transition(parent["id"], "closed").expect(200)
    for k in kids[:2]:
        eq(ctx.record(k["id"])["state"], "closed", "child closed with its parent")


def test_major_incident_lifecycle(ctx):
    users(ctx)
    crit, low = service(ctx, "critical"), service(ctx, "low")
    mgr = "bob"
    grp = group(ctx, 1, manager=mgr)
    minor = ctx.incident(impact=1, urgency=1, service=low)
    eq(minor["major"], False, "P1 on a low service is not major")
    seen = {u: ctx.total("record=%s&recipient=%s" % (minor["number"], u), user=u,
                         plural="notifications") for u in ("tom", "ivan")}
    eq(seen, {"tom": 0, "ivan": 0}, "no notice for a minor incident")
    inc = ctx.incident(impact=1, urgency=1, service=crit, assignment_group=grp,
                       title="core banking down")
    eq((inc["priority"], inc["major"]), (1, True), "P1 on a critical service is major")
    # top management and incident managers, and the group's manager, are told
    for u in ("tom", "ivan", mgr):
        items = ctx.get("/notifications?record=%s&recipient=%s" % (inc["number"], u),
                        user=u).expect(200).json["items"]
        eq(len(items), 1, "one notice for %s" % u)
        eq(items[0]["recipient"], u, "addressed to %s" % u)
        eq(items[0]["subject_en"], "Major incident %s: core banking down" % inc["number"], "subject")
        check(items[0]["subject_ja"].startswith("重大インシデント"), "Japanese subject")
    eq(ctx.total("record=%s" % inc["number"], user="alice", plural="notifications"), 0,
       "others are not told, and see no one else's notices")
    eq(ctx.total("record=%s" % inc["number"], user="admin", plural="notifications"), 3,
       "an admin sees every notice")
    # the flag is for the desk, not for end users
    check("major" in ctx.record(inc["id"], user="alice"), "agents see the major flag")
    # no resolution without a major incident manager
    r = resolve(ctx, inc["id"])
    r.expect(422)
    eq(r.json.get("field"), "major_manager", "manager named")
    cur = ctx.record(inc["id"])
    ctx.patch("/incidents/%s" % inc["id"], {"major_manager": "ivan"}, version=cur["version"],
              user="alice").expect(200)
    resolve(ctx, inc["id"]).expect(200)
    # no closure without a completed review
    r = ctx.transition(inc["id"], "closed")
    r.expect(422)
    eq(ctx.record(inc["id"])["state"], "resolved", "still resolved")
    rev = ctx.create("major_reviews", {"incident": inc["number"], "summary": "core banking outage"},
                     user="ivan")
    r = ctx.transition(rev["id"], "completed", user="ivan", plural="major_reviews")
    r.expect(422)  # cause, timeline and actions are required
    r = ctx.transition(inc["id"], "closed")
    r.expect(422)  # a draft review does not count
    ctx.transition(rev["id"], "completed", user="ivan", plural="major_reviews",
                   cause="expired certificate", timeline="09:00 down\n09:40 restored",
                   actions="certificate expiry monitoring").expect(200)
    ctx.transition(inc["id"], "closed").expect(200)
    # notices are read by their recipient only
    n = ctx.get("/notifications?record=%s&recipient=tom" % inc["number"],
                user="tom").expect(200).json["items"][0]
    ctx.post("/notifications/%s/transition" % n["number"], {"to": "read"}, user="alice").expect(404)
    # an auditor (tom's base role) cannot write; the incident manager reads his own
    m = ctx.get("/notifications?record=%s" % inc["number"], user="ivan").expect(200).json["items"][0]
    ctx.post("/notifications/%s/transition" % m["number"], {"to": "read"}, user="ivan").expect(200)
    eq(ctx.total("record=%s&state=unread" % inc["number"], user="ivan", plural="notifications"), 0,
       "read")


def test_manual_major_flag_notifies(ctx):
    users(ctx)
    inc = ctx.incident(title="many users cannot log in")
    eq(inc["major"], False, "not major")
    r = ctx.patch("/incidents/%s" % inc["id"], {"major": True}, version=inc["version"], user="alice")
    r.expect(200)
    eq(ctx.total("record=%s&recipient=tom" % inc["number"], user="tom", plural="notifications"), 1,
       "declared major by hand: top management told")
    cur = ctx.record(inc["id"])
    ctx.patch("/incidents/%s" % inc["id"], {"title": "many users cannot log in (SSO)"},
              version=cur["version"], user="alice").expect(200)
    eq(ctx.total("record=%s&recipient=tom" % inc["number"], user="tom", plural="notifications"), 1,
       "not told again for another change")


def test_security_incidents_only_for_security(ctx):
    users(ctx)
    tag = unique("sec")
    sec = ctx.incident(title="%s phishing mail" % tag, category="security", subcategory="phishing",
                       user="sam")
    plain = ctx.incident(title="%s printer jam" % tag, category="hardware")
    ctx.get("/incidents/%s" % sec["number"], user="alice").expect(404)
    eq(ctx.total("title[contains]=%s" % tag, user="alice"), 1, "alice lists only the plain one")
    eq(ctx.total("title[contains]=%s&category=security" % tag, user="alice"), 0, "not by filter")
    s = ctx.get("/search?q=%s" % tag, user="alice").expect(200).json["items"]
    eq([i["number"] for i in s], [plain["number"]], "not found by search")
    for u in ("sam", "admin", "audrey"):
        ctx.get("/incidents/%s" % sec["number"], user=u).expect(200)
        eq(ctx.total("title[contains]=%s" % tag, user=u), 2, "%s sees both" % u)
    # moving an incident into the security category hides it from agents
    r = ctx.patch("/incidents/%s" % plain["id"], {"category": "security"}, version=plain["version"],
                  user="alice").expect(200)
    ctx.get("/incidents/%s" % plain["number"], user="alice").expect(404)
    # an end user still follows the security incident they reported
    mine = ctx.incident(title="%s suspicious login" % tag, category="security", user="eve")
    ctx.get("/incidents/%s" % mine["number"], user="eve").expect(200)
    ctx.get("/incidents/%s" % mine["number"], user="mallory").expect(404)
    ctx.get("/incidents/%s" % mine["number"], user="alice").expect(404)


def test_process_roles_in_session_and_cli(ctx):
    users(ctx)
    r = ctx.get("/session", user="sam").expect(200)
    eq(r.json["user"]["role"], "agent", "base role")
    eq(r.json["user"]["roles"], ["agent", "security"], "every role")
    p = ctx.cli("user", "add", "--data", ctx.data, "--name", unique("u"), "--role", "security",
                env={"KANRI_PASSWORD": "Pw-long-enough-123"})
    check(p.returncode != 0 and "role" in p.stderr, "a process role alone is refused: %s" % p.stderr)
    p = ctx.cli("user", "add", "--data", ctx.data, "--name", unique("u"), "--role", "agent,wizard",
                env={"KANRI_PASSWORD": "Pw-long-enough-123"})
    check(p.returncode != 0 and "role" in p.stderr, "an unknown role is refused: %s" % p.stderr)


TIMER_RULES = {
    "type": "incident",
    "rules": [
        {"name": "p1_escalation", "on": ["timer"],
         "when": {"priority": 1, "state": ["new", "in_progress", "on_hold"], "escalation_level": 0},
         "after": {"field": "created_at", "seconds": 1},
         "set": {"escalation_level": 1},
         "notify": {"roles": ["incident_manager"], "fields": ["assignment_group"],
                    "subject": {"ja": "P1 未解決 {number}", "en": "P1 unresolved {number}"}}},
        {"name": "auto_close", "on": ["timer"], "when": {"state": "resolved"},
         "after": {"field": "resolved_at", "seconds": 1}, "fire": "close"},
    ],
}


def wait_for(fn, what, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    check(False, "timed out waiting for " + what)


def test_timers_escalate_and_close(ctx):
    with ctx.new_site("timers", users=[("alice", "agent"), ("ivan", "agent,incident_manager"),
                                       ("gm", "agent")],
                      overlays={"timers.json": TIMER_RULES},
                      config={"jobs": {"tick_ms": 50, "timers_ms": 200}}) as s:
        s.create("groups", {"name": "l1", "manager": "gm"})
        p1 = s.incident(impact=1, urgency=1, assignment_group="l1")
        p3 = s.incident(impact=3, urgency=3)
        rec = wait_for(lambda: (lambda r: r if r["escalation_level"] == 1 else None)(s.record(p1["id"])),
                       "the P1 to be escalated")
        j = s.get("/incidents/%s/journal?action=p1_escalation" % p1["number"]).expect(200).json["items"]
        eq(len(j), 1, "escalation journalled once")
        eq((j[0]["actor"], j[0]["reason"]), ("system", "rule p1_escalation"), "by the system")
        for u in ("ivan", "gm"):
            eq(s.total("record=%s" % p1["number"], user=u, plural="notifications"), 1,
               "%s told of the escalation" % u)
        time.sleep(1.0)
        eq(s.record(p1["id"])["version"], rec["version"], "escalated once only")
        eq(s.record(p3["id"])["escalation_level"], 0, "a P3 is not escalated")
        # automatic closure after the resolution
        resolve(s, p3["id"]).expect(200)
        rec = wait_for(lambda: (lambda r: r if r["state"] == "closed" else None)(s.record(p3["id"])),
                       "the resolved incident to close")
        check(rec["closed_at"], "closed_at set")
        last = s.journal(p3["id"])[-1]
        eq((last["actor"], last["reason"]), ("system", "rule auto_close"), "closed by the rule")
        p = s.cli("audit", "verify", "--data", s.data)
        eq(p.returncode, 0, "audit verify after rule writes: %s" % p.stdout)


def test_bad_rules_refused(ctx):
    bad = [
        {"type": "incident", "rules": [{"name": "loop", "on": ["timer"], "when": {"state": "new"},
                                        "after": {"field": "created_at", "minutes": 5},
                                        "set": {"title": "x"}}]},
        {"type": "incident", "rules": [{"name": "x", "on": ["create"], "when": {"nosuch": 1},
                                        "set": {"major": True}}]},
        {"type": "incident", "rules": [{"name": "x", "on": ["create"], "when": {"service.nosuch": 1},
                                        "set": {"major": True}}]},
        {"type": "incident", "rules": [{"name": "x", "on": ["create"]}]},
        {"type": "incident", "restrict": [{"where": {"category": "security", "state": "new"},
                                           "roles": ["security"]}]},
    ]
    for i, decl in enumerate(bad):
        with ctx.new_site("badrule%d" % i, start=False, overlays={"bad.json": decl}) as s:
            p = s.cli("serve", "--data", s.data, "--listen", "127.0.0.1:%d" % free_port(), timeout=20)
            check(p.returncode != 0, "bad declaration %d refused" % i)
            check("bad.json" in p.stderr, "the error names the file: %r" % p.stderr[-300:])


def test_references_only_to_what_the_user_sees(ctx):
    users(ctx)
    theirs = ctx.incident(user="mallory", title="globex printer")
    r = ctx.post("/incidents", {"title": "mine", "parent": theirs["number"]}, user="eve")
    r.expect(422)
    eq(r.json.get("field"), "parent", "another organisation's incident is no parent of mine")
    check("no incident named" in r.json["detail"], "told as if it did not exist: %s" % r.json)
    sec = ctx.incident(user="sam", title="intrusion", category="security")
    r = ctx.post("/incidents", {"title": "follow-up", "parent": sec["number"]}, user="alice")
    r.expect(422)
    ctx.post("/incidents", {"title": "follow-up", "parent": sec["number"]}, user="sam").expect(201)
