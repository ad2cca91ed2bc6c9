# SPDX-License-Identifier: Apache-2.0
"""Satisfaction surveys: closing an incident or a request sends one to its
caller or requester (with a notification); only they, admins and auditors see
it; answering takes a rating of 1 to 5; unanswered surveys expire."""

import time

from harness import check, eq, unique


def resolve_and_close(ctx, number, closer="alice"):
    ctx.transition(number, "resolved", resolution_code="fixed",
                   resolution_notes="restarted the service").expect(200)
    ctx.transition(number, "closed", user=closer).expect(200)


def surveys_of(ctx, ticket, user="admin"):
    return ctx.get("/surveys?ticket=%s" % ticket, user=user).expect(200).json["items"]


def test_closing_an_incident_sends_its_caller_a_survey(ctx):
    svc = unique("svc")
    ctx.create("services", {"name": svc, "display_name": svc})
    inc = ctx.incident(title=unique("srv"), caller="eve", service=svc)
    ctx.transition(inc["number"], "resolved", resolution_code="fixed",
                   resolution_notes="restarted").expect(200)
    eq(surveys_of(ctx, inc["number"]), [], "none before the close")
    ctx.transition(inc["number"], "closed", user="alice").expect(200)
    items = surveys_of(ctx, inc["number"])
    eq(len(items), 1, "one survey on close")
    s = items[0]
    eq((s["respondent"], s["ticket_type"], s["ticket"], s["service"], s["state"], s["rating"]),
       ("eve", "incidents", inc["number"], svc, "sent", None), "the survey")
    check(s["number"].startswith("SRV-"), "numbered SRV-: %s" % s["number"])
    eq(s["created_by"], "system", "made by kanri")
    n = ctx.get("/notifications?record=%s" % s["number"], user="eve").expect(200).json["items"]
    eq(len(n), 1, "the caller is told")
    check(inc["number"] in n[0]["subject_en"], "the subject names the ticket: %s" % n[0])
    # who sees it
    eq(len(surveys_of(ctx, inc["number"], user="eve")), 1, "the caller sees it")
    eq(len(surveys_of(ctx, inc["number"], user="audrey")), 1, "an auditor sees it")
    for u in ("erin", "alice", "mallory"):
        eq(surveys_of(ctx, inc["number"], user=u), [], "%s does not list it" % u)
        ctx.get("/surveys/%s" % s["number"], user=u).expect(404)
    # only kanri makes them
    r = ctx.post("/surveys", {"respondent": "eve", "ticket_type": "incidents", "ticket": "x"},
                 user="eve")
    r.expect(403)
    r = ctx.transition(s["number"], "answered", user="erin", plural="surveys", rating=5)
    r.expect(404)


def test_answering_takes_a_rating_of_1_to_5(ctx):
    inc = ctx.incident(title=unique("srv"), caller="eve")
    resolve_and_close(ctx, inc["number"])
    s = surveys_of(ctx, inc["number"], user="eve")[0]
    for body, field in (({}, "rating"), ({"rating": 0}, "rating"), ({"rating": 6}, "rating"),
                        ({"rating": "good"}, "rating"), ({"rating": 3, "ticket": "INC-1"}, "ticket"),
                        ({"rating": 3, "answered_at": "2026-01-01T00:00:00Z"}, "answered_at")):
        r = ctx.transition(s["number"], "answered", user="eve", plural="surveys", **body)
        check(r.status in (403, 422), "refused: %r -> %s" % (body, r.status))
        eq(r.json.get("field"), field, "field named for %r" % body)
    rec = ctx.record(s["number"], plural="surveys")
    eq((rec["state"], rec["rating"], rec["version"]), ("sent", None, s["version"]),
       "nothing written by the refusals")
    eq(len(ctx.journal(s["number"], plural="surveys")), 1, "only the create journalled")
    # a PATCH does not answer it either: surveys change through their transitions
    ctx.patch("/surveys/%s" % s["number"], {"rating": 2}, version=s["version"],
              user="eve").expect(422)
    r = ctx.transition(s["number"], "answered", user="eve", plural="surveys", rating=4,
                       comment="速い対応でした").expect(200)
    eq((r.json["state"], r.json["rating"], r.json["comment"]), ("answered", 4, "速い対応でした"),
       "answered")
    check(r.json["answered_at"], "answered_at set")
    eq(ctx.journal(s["number"], plural="surveys")[-1]["actor"], "eve", "her answer, journalled")
    ctx.transition(s["number"], "answered", user="eve", plural="surveys", rating=1).expect(409, 422)
    eq(ctx.record(s["number"], plural="surveys")["rating"], 4, "answered once")


def test_no_caller_surveys_the_creator(ctx):
    inc = ctx.incident(title=unique("srv"), user="bob")
    eq(inc["caller"], None, "no caller")
    resolve_and_close(ctx, inc["number"])
    eq([s["respondent"] for s in surveys_of(ctx, inc["number"])], ["bob"], "its creator asked")
    eq(len(surveys_of(ctx, inc["number"], user="bob")), 1, "and sees it")


def test_closing_a_request_sends_its_requester_a_survey(ctx):
    svc = unique("svc")
    ctx.create("services", {"name": svc, "display_name": svc})
    o = ctx.create("offerings", {"name": unique("ofr"), "title": "アカウント発行", "category": "access",
                                 "approval": "none", "service": svc})
    ctx.transition(o["id"], "published", user="admin", plural="offerings").expect(200)
    req = ctx.create("requests", {"offering": o["name"]}, user="eve")
    ctx.transition(req["number"], "fulfilled", plural="requests").expect(200)
    eq(surveys_of(ctx, req["number"]), [], "none before the close")
    ctx.transition(req["number"], "closed", user="eve", plural="requests").expect(200)
    items = surveys_of(ctx, req["number"], user="eve")
    eq([(s["respondent"], s["ticket_type"], s["service"], s["state"]) for s in items],
       [("eve", "requests", svc, "sent")], "the requester asked")


EXPIRY = {"type": "survey", "rules": [{"name": "survey_expire", "on": ["timer"],
                                       "when": {"state": "sent"},
                                       "after": {"field": "created_at", "seconds": 1},
                                       "fire": "expire"}]}


def wait_for(fn, what, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    check(False, "waited for %s" % what)


def test_unanswered_surveys_expire(ctx):
    with ctx.new_site("surveys", users=[("alice", "agent"), ("eve", "enduser", "acme")],
                      overlays={"expiry.json": EXPIRY},
                      config={"jobs": {"tick_ms": 50, "timers_ms": 200}}) as s:
        inc = s.incident(title="slow printer", caller="eve")
        resolve_and_close(s, inc["number"])
        sv = surveys_of(s, inc["number"])[0]
        rec = wait_for(lambda: (lambda r: r if r["state"] == "expired" else None)(
            s.record(sv["number"], plural="surveys")), "the survey to expire")
        eq(rec["rating"], None, "not answered")
        last = s.journal(sv["number"], plural="surveys")[-1]
        eq((last["actor"], last["reason"]), ("system", "rule survey_expire"), "expired by the rule")
        s.transition(sv["number"], "answered", user="eve", plural="surveys", rating=5).expect(409, 422)
