# SPDX-License-Identifier: Apache-2.0
"""The incident lifecycle, comments and work notes, and the journal."""

import json

from harness import MISSING, change_of, check, eq, etag_of, unique


def test_full_lifecycle(ctx):
    inc = ctx.incident(user="alice", title="lifecycle")
    ref = inc["number"]
    r = ctx.transition(ref, "in_progress").expect(200)
    eq(r.json["state"], "in_progress", "state after start")
    eq(r.json["version"], 2, "version after start")
    # on_hold requires hold_reason.
    ctx.transition(ref, "on_hold").problem(422, "hold_reason")
    eq(ctx.record(ref)["state"], "in_progress", "state after a refused hold")
    ctx.transition(ref, "on_hold", hold_reason="maybe_later").problem(422, "hold_reason")
    r = ctx.transition(ref, "on_hold", hold_reason="awaiting_caller").expect(200)
    eq((r.json["state"], r.json["hold_reason"]), ("on_hold", "awaiting_caller"), "on hold")
    r = ctx.transition(ref, "in_progress").expect(200)
    eq(r.json["state"], "in_progress", "back to work")
    # resolved requires resolution_code and resolution_notes.
    ctx.transition(ref, "resolved").problem(422, fields=["resolution_code", "resolution_notes"])
    ctx.transition(ref, "resolved", resolution_code="fixed").problem(422, "resolution_notes")
    ctx.transition(ref, "resolved", resolution_notes="done").problem(422, "resolution_code")
    ctx.transition(ref, "resolved", resolution_code="not-a-code",
                   resolution_notes="done").problem(422, "resolution_code")
    cur = ctx.record(ref)
    eq((cur["state"], cur["resolution_code"], cur["resolution_notes"]), ("in_progress", None, None),
       "record after refused resolves")
    r = ctx.transition(ref, "resolved", resolution_code="fixed",
                       resolution_notes="Restarted the mail relay").expect(200)
    j = r.json
    eq(j["state"], "resolved", "state")
    eq(j["resolution_code"], "fixed", "resolution_code")
    eq(j["resolution_notes"], "Restarted the mail relay", "resolution_notes")
    check(j["resolved_at"], "resolved_at set on resolve")
    # Reopen, resolve again, close.
    r = ctx.transition(ref, "in_progress").expect(200)
    eq(r.json["state"], "in_progress", "reopened")
    r = ctx.transition(ref, "resolved", resolution_code="workaround",
                       resolution_notes="Second fix").expect(200)
    eq(r.json["state"], "resolved", "resolved again")
    r = ctx.transition(ref, "closed").expect(200)
    eq(r.json["state"], "closed", "closed")
    check(r.json["closed_at"], "closed_at set on close")
    eq(r.json["version"], cur["version"] + 4, "version counts every transition")
    # A final state has no way out.
    ctx.transition(ref, "in_progress").problem(422)
    ctx.transition(ref, "resolved", resolution_code="fixed", resolution_notes="x").problem(422)
    states = [change_of(e, "state") for e in ctx.journal(ref)]
    moves = [s for s in states if s is not MISSING and s[0] is not None]
    eq([s[1] for s in moves],
       ["in_progress", "on_hold", "in_progress", "resolved", "in_progress", "resolved", "closed"],
       "state changes in the journal")
    eq(moves[0][0], "new", "first move from new")


def test_forbidden_transition_422(ctx):
    inc = ctx.incident(title="no shortcut")
    ctx.transition(inc["id"], "closed").problem(422)
    ctx.transition(inc["id"], "resolved_and_forgotten").problem(422)
    ctx.post("/incidents/%d/transition" % inc["id"], {}, user="alice").problem(422)
    ctx.transition(inc["id"], "new").problem(422)
    got = ctx.record(inc["id"])
    eq((got["state"], got["version"]), ("new", 1), "record after refused transitions")


def test_transition_if_match(ctx):
    inc = ctx.incident(title="guarded move")
    path = "/incidents/%d/transition" % inc["id"]
    ctx.request("POST", path, body={"to": "in_progress"}, user="alice",
                headers={"If-Match": etag_of(7)}).problem(409)
    eq(ctx.record(inc["id"])["state"], "new", "state after a stale transition")
    r = ctx.request("POST", path, body={"to": "in_progress"}, user="alice",
                    headers={"If-Match": etag_of(1)}).expect(200)
    eq(r.json["state"], "in_progress", "state")


def test_transition_fields_validated(ctx):
    inc = ctx.incident(title="fields with a move")
    ctx.transition(inc["id"], "in_progress", impact=9).problem(422, "impact")
    ctx.transition(inc["id"], "in_progress", priority=1).problem(422, "priority")
    ctx.transition(inc["id"], "in_progress", bogus=1).problem(422, "bogus")
    eq(ctx.record(inc["id"])["state"], "new", "state after refused moves")
    r = ctx.transition(inc["id"], "in_progress", impact=1, urgency=1,
                       reason="customer called").expect(200)
    eq((r.json["impact"], r.json["priority"]), (1, 1), "fields set with the move")
    last = ctx.journal(inc["id"])[-1]
    eq(last.get("reason"), "customer called", "reason of the move")


def test_enduser_may_not_start_work(ctx):
    inc = ctx.incident(user="eve", title="my printer")
    ctx.transition(inc["id"], "in_progress", user="eve").problem(403)
    ctx.transition(inc["id"], "cancelled", user="eve").problem(403)
    eq(ctx.record(inc["id"])["state"], "new", "state")


def test_enduser_closes_or_reopens_own_resolved(ctx):
    inc = ctx.incident(user="eve", title="my screen")
    ctx.transition(inc["id"], "resolved", resolution_code="fixed", resolution_notes="cable").expect(200)
    r = ctx.transition(inc["id"], "in_progress", user="eve").expect(200)
    eq(r.json["state"], "in_progress", "reopened by the end user")
    ctx.transition(inc["id"], "resolved", resolution_code="fixed", resolution_notes="cable").expect(200)
    r = ctx.transition(inc["id"], "closed", user="erin").expect(200)
    eq(r.json["state"], "closed", "closed by an end user of the same organisation")
    # Another organisation's end user cannot.
    other = ctx.incident(user="eve", title="not yours")
    ctx.transition(other["id"], "resolved", resolution_code="fixed", resolution_notes="x").expect(200)
    ctx.transition(other["id"], "closed", user="mallory").expect(403, 404)
    eq(ctx.record(other["id"])["state"], "resolved", "state after mallory tried")


def test_cancel(ctx):
    inc = ctx.incident(title="raised by mistake")
    r = ctx.transition(inc["id"], "cancelled", reason="duplicate call").expect(200)
    eq(r.json["state"], "cancelled", "state")
    ctx.transition(inc["id"], "in_progress").problem(422)
    ctx.transition(inc["id"], "new").problem(422)
    eq(ctx.record(inc["id"])["state"], "cancelled", "state")


def test_state_changes_only_by_transition(ctx):
    inc = ctx.incident(title="no direct state")
    ctx.patch("/incidents/%d" % inc["id"], {"state": "in_progress"}, version=1).problem(422, "state")
    eq(ctx.record(inc["id"])["state"], "new", "state")


def comments(ctx, ref, user):
    r = ctx.get("/incidents/%s/comments" % ref, user=user).expect(200)
    check(isinstance(r.json.get("items"), list), "comments is not {items: [...]}: %s" % r)
    return r.json["items"]


def test_comments_and_work_notes(ctx):
    inc = ctx.incident(user="eve", title="comment thread")
    ref = inc["id"]
    secret = unique("internal-only-")
    r = ctx.post("/incidents/%d/comments" % ref, {"body": "We are looking into it", "kind": "comment"},
                 user="alice").expect(201)
    c = r.json
    eq((c.get("kind"), c.get("body"), c.get("author")), ("comment", "We are looking into it", "alice"),
       "the comment")
    check(c.get("created_at") and c.get("id"), "comment has id and created_at: %r" % c)
    ctx.post("/incidents/%d/comments" % ref, {"body": "Vendor says " + secret, "kind": "work_note"},
             user="alice").expect(201)
    ctx.post("/incidents/%d/comments" % ref, {"body": "Thanks! 助かります", "kind": "comment"},
             user="eve").expect(201)
    # The agent sees all three, oldest first.
    items = comments(ctx, ref, "alice")
    eq([(i["kind"], i["author"]) for i in items],
       [("comment", "alice"), ("work_note", "alice"), ("comment", "eve")], "agent's view")
    eq(items[2]["body"], "Thanks! 助かります", "body stored exactly")
    # The auditor reads everything.
    eq(len(comments(ctx, ref, "audrey")), 3, "auditor's view")
    # The end user and a colleague see the comments, never the work note.
    for u in ("eve", "erin"):
        items = comments(ctx, ref, u)
        eq([i["kind"] for i in items], ["comment", "comment"], "%s's view" % u)
        r = ctx.get("/incidents/%d/comments" % ref, user=u)
        check(secret not in r.body.decode(), "work note leaked to %s in comments" % u)
        r = ctx.get("/incidents/%d/journal" % ref, user=u).expect(200)
        check(secret not in r.body.decode(), "work note leaked to %s in the journal" % u)
        check(all(e.get("action") != "work_note" for e in r.json["items"]),
              "work note entry shown to %s" % u)
        r = ctx.get("/incidents/%d" % ref, user=u).expect(200)
        check(secret not in r.body.decode(), "work note leaked to %s in the record" % u)
    # The agent's journal has the work note.
    r = ctx.get("/incidents/%d/journal" % ref, user="alice").expect(200)
    check(secret in r.body.decode(), "work note not journalled")


def test_enduser_cannot_post_work_note(ctx):
    inc = ctx.incident(user="eve", title="no notes for me")
    ctx.post("/incidents/%d/comments" % inc["id"], {"body": "sneaky", "kind": "work_note"},
             user="eve").problem(403)
    eq(comments(ctx, inc["id"], "alice"), [], "comments after a refused work note")


def test_comment_validation(ctx):
    inc = ctx.incident(title="comment checks")
    path = "/incidents/%d/comments" % inc["id"]
    ctx.post(path, {"kind": "comment"}, user="alice").problem(422, "body")
    ctx.post(path, {"body": "", "kind": "comment"}, user="alice").problem(422, "body")
    ctx.post(path, {"body": "x", "kind": "shout"}, user="alice").problem(422, "kind")
    ctx.post(path, {"body": 5, "kind": "comment"}, user="alice").problem(422, "body")
    ctx.request("POST", path, data=b"{", user="alice").problem(400)
    eq(comments(ctx, inc["id"], "alice"), [], "comments after refused posts")
    ctx.post("/incidents/999999999/comments", {"body": "x", "kind": "comment"}).problem(404)


def test_journal_every_change(ctx):
    inc = ctx.incident(user="alice", title="journalled", impact=3, urgency=3, category="network")
    ref = inc["id"]
    ctx.patch("/incidents/%d" % ref, {"impact": 1, "title": "journalled (escalated)",
                                      "reason": "VIP user"}, version=1, user="bob").expect(200)
    ctx.transition(ref, "in_progress", user="alice").expect(200)
    ctx.post("/incidents/%d/comments" % ref, {"body": "on it", "kind": "comment"}, user="alice").expect(201)
    items = ctx.journal(ref)
    eq(len(items), 4, "entries (create, update, transition, comment): %s" % json.dumps(items)[:600])
    create, update, move, comment = items
    for e in items:
        check(e.get("at"), "entry without time: %r" % e)
        check(isinstance(e.get("seq"), int), "entry without seq: %r" % e)
    check(create["seq"] < update["seq"] < move["seq"] < comment["seq"], "entries in order")
    eq((create.get("actor"), create.get("action")), ("alice", "create"), "create entry")
    eq(change_of(create, "title")[1], "journalled", "title in the create entry")
    eq(change_of(create, "category")[1], "network", "category in the create entry")
    eq((update.get("actor"), update.get("action")), ("bob", "update"), "update entry")
    eq(update.get("reason"), "VIP user", "reason of the update")
    eq(change_of(update, "impact"), (3, 1), "impact old/new")
    eq(change_of(update, "title"), ("journalled", "journalled (escalated)"), "title old/new")
    eq(change_of(update, "priority"), (5, 3), "computed priority old/new")
    eq(change_of(update, "urgency"), MISSING, "unchanged urgency not in the entry")
    eq(move.get("actor"), "alice", "transition actor")
    eq(change_of(move, "state"), ("new", "in_progress"), "state old/new")
    eq(comment.get("action"), "comment", "comment entry")
    # Refused requests leave no trace.
    ctx.patch("/incidents/%d" % ref, {"impact": 7}, version=3).problem(422, "impact")
    ctx.transition(ref, "closed").problem(422)
    eq(len(ctx.journal(ref)), 4, "entries after refused requests")
