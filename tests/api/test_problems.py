# SPDX-License-Identifier: Apache-2.0
"""Problem management: the problem lifecycle with its required fields and
guards, proactive problems, incidents linked to a problem, the known error
made from a problem, the effectiveness review of a fix, the review
reminder, and who may see problems."""

import time

from harness import check, eq, unique

_users = {}


def users(ctx):
    """Process-role users of the main site (made once)."""
    if not _users:
        ctx.add_user("pat", "agent,problem_manager")
        ctx.add_user("sec", "agent,security")
        _users["done"] = True


def service(ctx):
    name = unique("psvc")
    ctx.create("services", {"name": name, "display_name": name})
    return name


def problem(ctx, user="alice", **fields):
    fields.setdefault("title", "Problem %s" % unique())
    return ctx.create("problems", fields, user=user)


def move(ctx, ref, to, user="alice", **fields):
    return ctx.transition(ref, to, user=user, plural="problems", **fields)


def rec(ctx, ref):
    return ctx.record(ref, plural="problems")


def unchanged(ctx, before, what):
    """The problem is as it was (nothing written)."""
    now = rec(ctx, before["id"])
    eq((now["version"], now["state"]), (before["version"], before["state"]), what)
    eq(len(ctx.journal(before["id"], plural="problems")), before["_journal"], what + ": journal")


def snapshot(ctx, ref):
    r = rec(ctx, ref)
    r["_journal"] = len(ctx.journal(ref, plural="problems"))
    return r


def test_problem_lifecycle(ctx):
    users(ctx)
    svc = service(ctx)
    p = problem(ctx, service=svc, category="software", impact=1, urgency=2,
                description="メール送信が朝だけ失敗する")
    eq((p["state"], p["priority"], p["detection"]), ("new", 2, "reactive"),
       "new, priority from the matrix, reactive by default")
    ref = p["number"]
    check(ref.startswith("PRB-"), "numbered PRB-: %s" % ref)
    # moves that are not declared, or lack what they need, write nothing
    before = snapshot(ctx, ref)
    move(ctx, ref, "resolved").problem(422, "to")
    unchanged(ctx, before, "new -> resolved is not a move")
    r = move(ctx, ref, "known_error")
    r.problem(422, "root_cause")
    check("root cause or a workaround" in r.json["detail"], "the guard explains: %s" % r.json)
    unchanged(ctx, before, "no known error without cause or workaround")
    ctx.patch("/problems/%s" % ref, {"fix_applied_at": "2026-01-01T00:00:00Z"},
              version=p["version"], user="alice").problem(422, "fix_applied_at")
    move(ctx, ref, "analysis").expect(200)
    r = move(ctx, ref, "known_error", root_cause="キューの設定ミス", rca_method="five_whys")
    r.expect(200)
    eq((r.json["state"], r.json["rca_method"]), ("known_error", "five_whys"), "a known error")
    # a fix needs the change that carries it; the fix time is kanri's
    move(ctx, ref, "fix_in_progress").expect(200)
    before = snapshot(ctx, ref)
    move(ctx, ref, "resolved").problem(422, "fix_change")
    unchanged(ctx, before, "no fix without its change")
    r = move(ctx, ref, "resolved", fix_change="CHG-000123")
    r.expect(200)
    check(r.json["fix_applied_at"], "fix_applied_at set by the transition")
    # closing is the problem manager's, after the effectiveness review
    before = snapshot(ctx, ref)
    move(ctx, ref, "closed", user="alice").problem(403)
    r = move(ctx, ref, "closed", user="pat")
    r.problem(422, "effectiveness_notes")
    unchanged(ctx, before, "no closure without the review")
    r = move(ctx, ref, "closed", user="pat", effectiveness_notes="30日間再発なし")
    r.expect(200)
    check(r.json["closed_at"], "closed_at set")
    last = ctx.journal(ref, plural="problems")[-1]
    eq((last["actor"], last["action"]), ("pat", "transition"), "journalled")


def test_reopen_and_cancel_need_reasons(ctx):
    users(ctx)
    p = problem(ctx, root_cause="x")
    ref = p["number"]
    move(ctx, ref, "fix_in_progress").problem(422, "to")  # analysed first
    move(ctx, ref, "analysis").expect(200)
    move(ctx, ref, "fix_in_progress").expect(200)
    move(ctx, ref, "resolved", fix_change="CHG-1").expect(200)
    move(ctx, ref, "analysis").problem(422, "reason")
    move(ctx, ref, "analysis", reason="recurred on Monday").expect(200)
    move(ctx, ref, "cancelled", user="alice", reason="duplicate").problem(403)
    move(ctx, ref, "cancelled", user="pat").problem(422, "reason")
    move(ctx, ref, "cancelled", user="pat", reason="duplicate of another").expect(200)
    eq(rec(ctx, ref)["state"], "cancelled", "cancelled")


def test_proactive_problem(ctx):
    tag = unique("pro")
    p = problem(ctx, title="%s disk fills up in 3 months" % tag, detection="proactive",
                description="容量の傾向から予測", category="hardware")
    eq(p["detection"], "proactive", "proactive")
    t = problem(ctx, title="%s repeated VPN drops" % tag, detection="trend_analysis")
    eq(ctx.total("title[contains]=%s&detection=proactive" % tag, plural="problems"), 1,
       "filter on detection")
    eq(ctx.total("title[contains]=%s&detection[in]=proactive,trend_analysis" % tag,
                 plural="problems"), 2, "both")
    r = ctx.post("/problems", {"title": tag, "detection": "guesswork"}, user="alice")
    r.problem(422, "detection")
    r = ctx.post("/problems", {"title": tag, "rca_method": "astrology"}, user="alice")
    r.problem(422, "rca_method")
    eq(ctx.total("title[contains]=%s" % tag, plural="problems"), 2, "nothing written")
    # a proactive problem has no incidents, and says so
    eff = ctx.get("/problems/%s/effectiveness" % t["number"]).expect(200).json
    eq(eff["linked"], {"total": 0, "open": 0, "before_fix": 0, "after_fix": None}, "no incidents")
    eq((eff["window"], eff["recurrences"]), (None, None), "no fix yet")
    meta = ctx.get("/meta/types/problem").expect(200).json
    rca = [f for f in meta["fields"] if f["name"] == "rca_method"][0]
    labels = {v["value"]: v["label"]["ja"] for v in rca["values"]}
    eq((labels["five_whys"], labels["fishbone"], labels["kt_method"]),
       ("なぜなぜ分析", "特性要因図", "KT法"), "Japanese method names")


def link(ctx, inc, prob, user="alice"):
    cur = ctx.record(inc["id"])
    r = ctx.patch("/incidents/%s" % inc["number"], {"problem": prob}, version=cur["version"],
                  user=user)
    r.expect(200)
    return r.json


def test_known_error_from_problem(ctx):
    users(ctx)
    svc = service(ctx)
    p = problem(ctx, title="Mail queue stalls every morning", service=svc, category="software",
                description="送信キューが朝9時に止まる")
    ref = p["number"]
    total = ctx.total("", plural="known_errors")
    # not before the problem is a known error; nothing written
    r = ctx.post("/problems/%s/known-error" % ref, {}, user="alice")
    r.problem(422, "state")
    eq(ctx.total("", plural="known_errors"), total, "no known error written")
    eq(rec(ctx, ref)["known_error"], None, "the problem names none")
    move(ctx, ref, "known_error", workaround="キューを再起動する").expect(200)
    # an override must be a known error field, and is validated as a create
    ctx.post("/problems/%s/known-error" % ref, {"colour": "red"}, user="alice").problem(422, "colour")
    ctx.post("/problems/%s/known-error" % ref, {"problem": "PRB-000001"},
             user="alice").problem(422, "problem")
    eq(ctx.total("", plural="known_errors"), total, "still none")
    r = ctx.post("/problems/%s/known-error" % ref, {"symptoms": "送信が止まる", "reason": "KEDB"},
                 user="alice")
    r.expect(201)
    ke = r.json
    eq(r.header("Location"), "/api/v1/known_errors/%s" % ke["number"], "Location")
    check(ke["number"].startswith("KE-"), "numbered KE-")
    eq((ke["title"], ke["symptoms"], ke["workaround"], ke["problem"], ke["service"],
        ke["category"], ke["state"]),
       (p["title"], "送信が止まる", "キューを再起動する", ref, svc, "software", "draft"),
       "made from the problem, with the override")
    eq(rec(ctx, ref)["known_error"], ke["number"], "the problem names its known error")
    j = ctx.journal(ref, plural="problems")[-1]
    eq((j["action"], j["actor"], j["reason"]), ("known_error", "alice", "KEDB"), "journalled")
    kj = ctx.journal(ke["number"], plural="known_errors")
    eq([e["action"] for e in kj], ["create"], "the known error's create")
    # once only
    ctx.post("/problems/%s/known-error" % ref, {}, user="alice").problem(409, "known_error")
    eq(ctx.total("", plural="known_errors"), total + 1, "one known error")
    # the known error is published like any record; it needs a root cause or workaround
    ctx.transition(ke["number"], "published", plural="known_errors").expect(200)
    # an incident can name it, hidden from end users
    inc = ctx.incident(user="eve", title="送信できません")
    cur = ctx.record(inc["id"])
    ctx.patch("/incidents/%s" % inc["number"], {"known_error": ke["number"], "problem": ref},
              version=cur["version"], user="alice").expect(200)
    mine = ctx.record(inc["id"], user="eve")
    check("known_error" not in mine and "problem" not in mine, "hidden from end users: %s" % mine)
    check("kb_article" in mine, "the article that helped is shown to end users")


def test_effectiveness_counts(ctx):
    users(ctx)
    svc = service(ctx)
    p = problem(ctx, title="Mail relay drops messages", service=svc, category="software")
    ref = p["number"]
    i1 = ctx.incident(title="mail lost 1", service=svc, category="software")
    i2 = ctx.incident(title="mail lost 2", service=svc, category="software")
    i3 = ctx.incident(title="mail lost 3")
    x1 = ctx.incident(title="mail slow", service=svc, category="software")  # not linked
    for i in (i1, i2, i3):
        link(ctx, i, ref)
    ctx.transition(i1["id"], "resolved", resolution_code="workaround",
                   resolution_notes="resent").expect(200)
    # a link must name a problem
    cur = ctx.record(x1["id"])
    ctx.patch("/incidents/%s" % x1["number"], {"problem": "PRB-999999"}, version=cur["version"],
              user="alice").problem(422, "problem")
    eq(ctx.total("problem=%s" % ref), 3, "listed by problem")
    eff = ctx.get("/problems/%s/effectiveness" % ref).expect(200).json
    # open: not closed or cancelled (the resolved one is still open)
    eq(eff["linked"], {"total": 3, "open": 3, "before_fix": 3, "after_fix": None}, "before any fix")
    ctx.transition(i1["id"], "closed").expect(200)
    move(ctx, ref, "analysis").expect(200)
    move(ctx, ref, "fix_in_progress", root_cause="relay queue limit").expect(200)
    time.sleep(1.1)  # fix_applied_at has whole seconds: keep the incidents before it
    fixed = move(ctx, ref, "resolved", fix_change="CHG-000777").expect(200).json
    i4 = ctx.incident(title="mail lost again", service=svc, category="software")
    link(ctx, i4, ref)
    ctx.incident(title="mail lost, not linked", service=svc, category="software")
    ctx.incident(title="network to mail", service=svc, category="network")
    eff = ctx.get("/problems/%s/effectiveness" % ref).expect(200).json
    eq((eff["problem"], eff["fix_change"], eff["fix_applied_at"], eff["days"]),
       (ref, "CHG-000777", fixed["fix_applied_at"], 30), "the fix")
    eq(eff["linked"], {"total": 4, "open": 3, "before_fix": 3, "after_fix": 1}, "linked counts")
    w = eff["window"]
    eq((w["before"], w["after"]), (3, 1), "in the 30 days before and after")
    check(w["from"] < w["fix"] < w["to"] and w["fix"].startswith(fixed["fix_applied_at"][:19]),
          "window bounds: %s" % w)
    check(0 <= w["after_days_elapsed"] < 0.01, "the after-window has only begun")
    # each period counts as at least one day: 3 and 1 incidents per 30 days become 90 and 30
    rate = eff["rate_per_30_days"]
    eq((rate["before"], rate["after"]), (90.0, 30.0), "rates per 30 days")
    eq(eff["recurrences"], {"service": svc, "category": "software", "after_fix": 2,
                            "in_window": 2, "not_linked": 1}, "recurrences")
    # a shorter window, and bad parameters
    eff7 = ctx.get("/problems/%s/effectiveness?days=7" % ref).expect(200).json
    eq((eff7["days"], eff7["window"]["before"], eff7["window"]["after"]), (7, 3, 1), "days=7")
    ctx.get("/problems/%s/effectiveness?days=0" % ref).problem(400, "days")
    ctx.get("/problems/%s/effectiveness?days=400" % ref).problem(400, "days")
    ctx.get("/problems/%s/effectiveness?colour=red" % ref).problem(400, "colour")
    ctx.get("/problems/PRB-999999/effectiveness").expect(404)


def test_endusers_and_auditors(ctx):
    users(ctx)
    p = problem(ctx, title="Print server hangs")
    ref = p["number"]
    for path in ("/problems", "/problems/%s" % ref, "/problems/%s/effectiveness" % ref,
                 "/known_errors"):
        r = ctx.get(path, user="eve")
        check(r.status in (403, 404), "end user refused %s: %s" % (path, r))
    ctx.post("/problems", {"title": "x"}, user="eve").expect(403)
    ctx.post("/problems/%s/known-error" % ref, {}, user="eve").expect(403, 404)
    ctx.get("/incidents?problem=%s" % ref, user="eve").problem(400, "problem")
    items = ctx.get("/search?q=%s&types=problems" % "Print", user="eve")
    items.expect(403)
    # auditors read, and change nothing
    ctx.get("/problems/%s" % ref, user="audrey").expect(200)
    ctx.get("/problems/%s/effectiveness" % ref, user="audrey").expect(200)
    ctx.post("/problems/%s/transition" % ref, {"to": "analysis"}, user="audrey").expect(403)
    ctx.post("/problems/%s/known-error" % ref, {}, user="audrey").expect(403)
    # security problems are for the security role
    s = problem(ctx, title="Phishing wave", category="security", user="sec")
    ctx.get("/problems/%s" % s["number"], user="alice").expect(404)
    ctx.get("/problems/%s" % s["number"], user="sec").expect(200)
    ctx.get("/problems/%s/effectiveness" % s["number"], user="alice").expect(404)


REVIEW_USERS = [("alice", "agent"), ("pat", "agent,problem_manager")]


def test_effectiveness_review_reminder(ctx):
    with ctx.new_site("prbtimer", users=REVIEW_USERS,
                      config={"jobs": {"tick_ms": 50, "timers_ms": 200}}) as s:
        p = s.create("problems", {"title": "Backup job fails", "root_cause": "expired key",
                                  "assignee": "alice"}, user="alice")
        ref = p["number"]
        s.transition(ref, "analysis", plural="problems").expect(200)
        s.transition(ref, "fix_in_progress", plural="problems").expect(200)
        # the review date is before the fix is applied: no reminder until resolved
        cur = s.record(ref, plural="problems")
        s.patch("/problems/%s" % ref, {"review_due": "2020-01-01"}, version=cur["version"],
                user="alice").expect(200)
        time.sleep(0.8)
        eq(s.total("record=%s" % ref, plural="notifications"), 0, "no reminder while fixing")
        s.transition(ref, "resolved", plural="problems", fix_change="CHG-9").expect(200)
        deadline = time.time() + 15
        while time.time() < deadline and s.total("record=%s" % ref, plural="notifications") < 2:
            time.sleep(0.2)
        for u in ("alice", "pat"):
            items = s.get("/notifications?record=%s" % ref, user=u).expect(200).json["items"]
            eq(len(items), 1, "one reminder for %s" % u)
            eq(items[0]["rule"], "review_reminder", "by the rule")
            check(items[0]["subject_ja"].startswith("問題 %s" % ref), "Japanese subject")
        time.sleep(0.8)
        eq(s.total("record=%s" % ref, plural="notifications"), 2, "the timer fired once")
        eq(s.record(ref, plural="problems")["review_reminded"], True, "marked as reminded")
        p2 = s.cli("audit", "verify", "--data", s.data)
        eq(p2.returncode, 0, "audit verify: %s" % p2.stdout)


def test_problem_raised_from_an_incident(ctx):
    users(ctx)
    svc = service(ctx)
    inc = ctx.incident(title="毎朝9時にメール送信が失敗する", description="社外宛のみ", service=svc,
                       category="software", subcategory="email", impact=2, urgency=1)
    p = ctx.create("problems", {"from_incident": inc["number"], "rca_method": "five_whys"},
                   user="alice")
    eq((p["title"], p["description"], p["service"], p["category"], p["impact"], p["urgency"]),
       (inc["title"], "社外宛のみ", svc, "software", 2, 1), "copied from the incident")
    eq(p["priority"], inc["priority"], "the same priority")
    i = ctx.record(inc["id"])
    eq(i["problem"], p["number"], "the incident is linked to its problem")
    last = ctx.journal(inc["id"])[-1]
    eq((last["actor"], last["reason"]), ("alice", "problem %s raised from it" % p["number"]),
       "the link is journalled")
    # an incident already linked keeps its problem
    p2 = ctx.create("problems", {"from_incident": inc["number"], "title": "another view"},
                    user="alice")
    eq(ctx.record(inc["id"])["problem"], p["number"], "not moved to a second problem")
    eq(p2["title"], "another view", "what is given wins")
    r = ctx.post("/problems", {"from_incident": "INC-999999"}, user="alice")
    r.expect(422)
    eq(r.json.get("field"), "from_incident", "an unknown incident is named")
