# SPDX-License-Identifier: Apache-2.0
"""Statistics (GET /{type}/stats) and the reports built on them: the desk
metrics (GET /reports/desk) and incident trends (GET /reports/incident-trends).

Every expected figure is computed here, by hand, from the records the test
made, read back through the API."""

import csv
import datetime as dt
import io

from harness import check, eq, unique, urlq

BOM = b"\xef\xbb\xbf"
TOKYO = dt.timezone(dt.timedelta(hours=9))  # the site's time zone, for now
FINAL = ("closed", "cancelled")


def when(iso):
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))


def iso(d):
    return d.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        "%03dZ" % (d.microsecond // 1000)


def hours(a, b):
    return (when(b) - when(a)).total_seconds() / 3600


def near(got, want, what, tol=0.0011):
    """Averages come rounded to 3 decimals."""
    if want is None or got is None:
        eq(got, want, what)
        return
    check(isinstance(got, (int, float)) and abs(got - want) <= tol,
          "%s: expected about %r, got %r" % (what, want, got))


def bucket(created, period):
    d = when(created).astimezone(TOKYO)
    if period == "day":
        return d.strftime("%Y-%m-%d")
    if period == "week":
        return (d.date() - dt.timedelta(days=d.weekday())).isoformat()
    if period == "month":
        return d.strftime("%Y-%m")
    return d.strftime("%Y")


def ordered(groups, names):
    """The order stats promise: most first, then by the keys (null last)."""
    def k(g):
        return (-g["count"],) + tuple((g["key"][n] is None, g["key"][n] if g["key"][n] is not None else "")
                                      for n in names)
    return sorted(groups, key=k)


def expect_groups(got, recs, names, keyfn=None, what="groups"):
    """got (the groups of a stats answer) against counts made from recs."""
    counts = {}
    for r in recs:
        key = keyfn(r) if keyfn else tuple(r[n] for n in names)
        counts[key] = counts.get(key, 0) + 1
    want = [{"key": dict(zip(names, key)), "count": n} for key, n in counts.items()]
    got_plain = [{"key": g["key"], "count": g["count"]} for g in got]
    eq(got_plain, ordered(want, names), what)


def rows_of_csv(r):
    eq(r.status, 200, "csv status of %s" % r)
    eq(r.ctype, "text/csv", "csv content type")
    check(r.body.startswith(BOM), "csv starts with a UTF-8 byte order mark: %r" % r.body[:20])
    text = r.body[len(BOM):].decode("utf-8")
    check(text.endswith("\r\n") and "\n" not in text.replace("\r\n", ""),
          "csv lines end with CRLF: %r" % text[:200])
    check("attachment" in (r.header("Content-Disposition") or ""), "csv is a download")
    return list(csv.reader(io.StringIO(text, newline="")))


# ---- a tagged data set in the main site -------------------------------------

_data = {}


def dataset(ctx):
    """Five tagged incidents over two groups and none; one resolved, one
    cancelled (made once)."""
    if _data:
        return _data
    tag = unique("sta")
    g1, g2 = unique("sg"), unique("sg")
    for g in (g1, g2):
        ctx.create("groups", {"name": g, "display_name": "Stats " + g})
    spec = [
        dict(assignment_group=g1, impact=1, urgency=1, category="network"),
        dict(assignment_group=g1, impact=1, urgency=2, category="network"),
        dict(assignment_group=g1, impact=2, urgency=2, category="software"),
        dict(assignment_group=g2, impact=3, urgency=3, category="network"),
        dict(impact=2, urgency=1),
    ]
    recs = [ctx.incident(user="alice", title="%s item %d" % (tag, k), **s) for k, s in enumerate(spec)]
    ctx.transition(recs[0]["id"], "resolved", resolution_code="fixed", resolution_notes="x").expect(200)
    ctx.transition(recs[4]["id"], "cancelled").expect(200)
    _data.update(tag=tag, g1=g1, g2=g2, recs=[ctx.record(r["id"]) for r in recs])
    return _data


def stats(ctx, query, user="admin", status=200):
    d = dataset(ctx)
    q = "title[contains]=%s" % d["tag"] + ("&" + query if query else "")
    r = ctx.get("/incidents/stats?" + q, user=user)
    if status != 200:
        return r
    r.expect(200)
    check(isinstance(r.json, dict) and isinstance(r.json.get("groups"), list), "stats answer: %s" % r)
    return r.json


def test_stats_grouped(ctx):
    d = dataset(ctx)
    recs = d["recs"]
    j = stats(ctx, "by=assignment_group")
    eq(j["by"], ["assignment_group"], "by")
    eq(j["total"], 5, "total")
    expect_groups(j["groups"], recs, ["assignment_group"])
    eq(j["groups"][0], {"key": {"assignment_group": d["g1"]}, "count": 3}, "the biggest group first")
    eq(j["groups"][-1]["key"], {"assignment_group": None}, "unassigned (null) last among equals")

    j = stats(ctx, "by=assignment_group,category")
    eq(j["by"], ["assignment_group", "category"], "by two")
    expect_groups(j["groups"], recs, ["assignment_group", "category"])

    # no by: one group over everything
    j = stats(ctx, "")
    eq(j, {"by": [], "groups": [{"key": {}, "count": 5}], "total": 5}, "no by")

    # sums and averages per group
    j = stats(ctx, "by=assignment_group&sum=impact&avg=urgency&avg=priority")
    for g in j["groups"]:
        mine = [r for r in recs if r["assignment_group"] == g["key"]["assignment_group"]]
        what = "group %s" % g["key"]
        eq(g["sum"], {"impact": sum(r["impact"] for r in mine)}, "sum of " + what)
        near(g["avg"]["urgency"], sum(r["urgency"] for r in mine) / len(mine), "avg urgency of " + what)
        near(g["avg"]["priority"], sum(r["priority"] for r in mine) / len(mine), "avg priority of " + what)


def test_stats_filtered(ctx):
    d = dataset(ctx)
    recs = d["recs"]
    j = stats(ctx, "by=assignment_group&impact=1")
    eq(j["groups"], [{"key": {"assignment_group": d["g1"]}, "count": 2}], "impact=1")
    eq(j["total"], 2, "total of impact=1")
    j = stats(ctx, "by=category&open=true")
    expect_groups(j["groups"], [r for r in recs if r["state"] not in FINAL], ["category"], what="open=true")
    j = stats(ctx, "by=state&category[in]=network,software&impact[gte]=1")
    expect_groups(j["groups"], [r for r in recs if r["category"] in ("network", "software")], ["state"],
                  what="[in] and [gte]")
    j = stats(ctx, "by=category&category[null]=true")
    eq(j["groups"], [{"key": {"category": None}, "count": 1}], "[null]=true")
    # min_count and limit cut groups, never the total
    j = stats(ctx, "by=assignment_group&min_count=2")
    eq(j["groups"], [{"key": {"assignment_group": d["g1"]}, "count": 3}], "min_count=2")
    eq(j["total"], 5, "total with min_count")
    j = stats(ctx, "by=assignment_group&limit=1")
    eq([g["count"] for g in j["groups"]], [3], "limit=1")
    eq(j["total"], 5, "total with limit")
    # the same filter gives the list's total
    q = "title[contains]=%s&category=network" % d["tag"]
    eq(stats(ctx, "category=network")["total"], ctx.total(q), "stats total = list total")


def test_stats_periods_and_durations(ctx):
    d = dataset(ctx)
    recs = d["recs"]
    for period in ("day", "week", "month", "year"):
        name = "created_at:" + period
        j = stats(ctx, "by=" + name)
        eq(j["by"], [name], "by " + name)
        expect_groups(j["groups"], recs, [name], keyfn=lambda r: (bucket(r["created_at"], period),),
                      what="by " + name)
    j = stats(ctx, "by=assignment_group,created_at:month")
    expect_groups(j["groups"], recs, ["assignment_group", "created_at:month"],
                  keyfn=lambda r: (r["assignment_group"], bucket(r["created_at"], "month")),
                  what="group and month")
    # durations: only the resolved one counts
    res = recs[0]
    check(res["resolved_at"], "resolved_at is set: %r" % res)
    j = stats(ctx, "avg_hours=created_at,resolved_at&max_hours=created_at,resolved_at"
                   "&avg_hours=created_at,updated_at")
    g = j["groups"][0]
    ah = g["avg_hours"]["created_at,resolved_at"]
    eq(ah["n"], 1, "rows with both times")
    near(ah["value"], hours(res["created_at"], res["resolved_at"]), "avg_hours")
    near(g["max_hours"]["created_at,resolved_at"], hours(res["created_at"], res["resolved_at"]), "max_hours")
    au = g["avg_hours"]["created_at,updated_at"]
    eq(au["n"], 5, "created_at,updated_at: every record")
    near(au["value"], sum(hours(r["created_at"], r["updated_at"]) for r in recs) / 5, "avg of updated")
    # per group: a group without a resolved record has no value
    j = stats(ctx, "by=assignment_group&avg_hours=created_at,resolved_at")
    for g in j["groups"]:
        v = g["avg_hours"]["created_at,resolved_at"]
        if g["key"]["assignment_group"] == d["g1"]:
            eq(v["n"], 1, "n of g1")
        else:
            eq(v, {"value": None, "n": 0}, "no resolved record in %s" % g["key"])


def test_stats_csv(ctx):
    d = dataset(ctx)
    r = ctx.get("/incidents/stats?title[contains]=%s&by=assignment_group&sum=impact"
                "&avg_hours=created_at,resolved_at&format=csv" % d["tag"])
    rows = rows_of_csv(r)
    eq(rows[0], ["assignment_group", "count", "sum(impact)", "avg_hours(created_at,resolved_at)",
                 "avg_hours_n(created_at,resolved_at)"], "csv header")
    j = stats(ctx, "by=assignment_group&sum=impact&avg_hours=created_at,resolved_at")
    eq(len(rows), len(j["groups"]) + 1, "a row per group")
    for row, g in zip(rows[1:], j["groups"]):
        eq(row[0], g["key"]["assignment_group"] or "", "csv key (null is empty)")
        eq(row[1], str(g["count"]), "csv count")
        eq(row[2], str(g["sum"]["impact"]), "csv sum")
        v = g["avg_hours"]["created_at,resolved_at"]
        eq(row[4], str(v["n"]), "csv n")
        if v["value"] is None:
            eq(row[3], "", "csv empty average")
        else:
            near(float(row[3]), v["value"], "csv average", tol=1e-9)
    # Japanese text survives as UTF-8
    tag = unique("csvja")
    ctx.incident(title="%s メール" % tag, category="software")
    r = ctx.get("/incidents/stats?title[contains]=%s&by=title&format=csv" % tag)
    eq(rows_of_csv(r)[1], ["%s メール" % tag, "1"], "a Japanese key in csv")
    # json is the default and may be asked for
    eq(ctx.get("/incidents/stats?title[contains]=%s&format=json" % tag).expect(200).ctype,
       "application/json", "format=json")


def test_stats_enduser_scope(ctx):
    tag = unique("stscope")
    ctx.incident(user="eve", title=tag + " a")
    ctx.incident(user="eve", title=tag + " b")
    ctx.incident(user="erin", title=tag + " c")
    ctx.incident(user="mallory", title=tag + " d")
    ctx.incident(user="alice", title=tag + " e", organisation="acme")
    ctx.incident(user="alice", title=tag + " f", organisation="globex")
    ctx.incident(user="alice", title=tag + " g")
    base = "/incidents/stats?title[contains]=%s&by=organisation" % tag
    eve = ctx.get(base, user="eve").expect(200).json
    eq(eve["groups"], [{"key": {"organisation": "acme"}, "count": 4}], "eve sees acme's counts only")
    eq(eve["total"], 4, "eve's total")
    eq(eve["total"], ctx.total("title[contains]=%s" % tag, user="eve"), "eve: stats total = list total")
    mal = ctx.get(base, user="mallory").expect(200).json
    eq(mal["groups"], [{"key": {"organisation": "globex"}, "count": 2}], "mallory sees globex's")
    # asking for another organisation finds nothing
    other = ctx.get(base + "&organisation=globex", user="eve").expect(200).json
    eq((other["groups"], other["total"]), ([], 0), "eve asking for globex")
    admin = ctx.get(base, user="admin").expect(200).json
    eq(sorted((g["key"]["organisation"] or "", g["count"]) for g in admin["groups"]),
       [("", 1), ("acme", 4), ("globex", 2)], "an admin sees every organisation")
    audrey = ctx.get(base, user="audrey").expect(200).json
    eq(audrey["total"], 7, "an auditor counts everything")


def test_stats_row_restrictions(ctx):
    # Security incidents are restricted to the security role (and the end
    # users who report them): an agent without it does not count them.
    tag = unique("stsec")
    ctx.incident(user="eve", title=tag + " phish", category="security")
    ctx.incident(user="eve", title=tag + " printer", category="hardware")
    q = "title[contains]=%s&by=category" % tag
    for user in ("alice", "eve"):
        j = ctx.get("/incidents/stats?" + q, user=user).expect(200).json
        eq(j["total"], ctx.total("title[contains]=%s" % tag, user=user),
           "%s: stats total = list total" % user)
        cats = sorted(g["key"]["category"] for g in j["groups"])
        if user == "eve":
            eq(cats, ["hardware", "security"], "eve counts her security incident")
    j = ctx.get("/incidents/stats?" + q, user="alice").expect(200).json
    check("security" not in [g["key"]["category"] for g in j["groups"]],
          "an agent without the security role does not count security incidents: %r" % j)


def test_stats_hidden_fields(ctx):
    dataset(ctx)
    # fields hidden from end users can be neither grouped nor measured by them
    for q, field in (("by=escalation_level", "by"), ("by=state,major", "by"),
                     ("sum=reassignment_count", "sum"), ("avg=escalation_count", "avg"),
                     ("major=true", "major")):
        r = ctx.get("/incidents/stats?" + q, user="eve")
        r.problem(400, field)
        check("escalation" not in (r.json.get("detail") or "") or "no field" in r.json["detail"],
              "the problem does not tell hidden from unknown: %s" % r)
    # the same as an agent
    j = stats(ctx, "by=escalation_level&sum=reassignment_count", user="alice")
    check(all("reassignment_count" in g["sum"] for g in j["groups"]), "agents may: %r" % j)


def test_stats_bad_parameters(ctx):
    bad = [
        ("by=nosuch", "by"),
        ("by=title:month", "by"),
        ("by=created_at:fortnight", "by"),
        ("by=state,priority,impact,urgency", "by"),
        ("by=state,state", "by"),
        ("by=state&by=priority", "by"),
        ("by=description", "by"),
        ("sum=title", "sum"),
        ("sum=nosuch", "sum"),
        ("avg=created_at", "avg"),
        ("avg_hours=created_at", "avg_hours"),
        ("avg_hours=created_at,impact", "avg_hours"),
        ("max_hours=created_at,resolved_at,closed_at", "max_hours"),
        ("min_count=0", "min_count"),
        ("min_count=x", "min_count"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("format=xml", "format"),
        ("impact[gt]=high", "impact"),
        ("nosuch=1", "nosuch"),
        ("created_at[gte]=yesterday", "created_at"),
    ]
    for q, field in bad:
        ctx.get("/incidents/stats?" + q, user="alice").problem(400, field)
    ctx.get("/incidents/stats?limit=1000", user="alice").expect(200)
    ctx.get("/nosuch/stats").problem(404)
    ctx.get("/incidents/stats", user=None).problem(401)
    r = ctx.post("/incidents/stats", {"by": "state"}, user="alice")
    r.problem(405)
    check("GET" in (r.header("Allow") or ""), "Allow names GET: %s" % r.header("Allow"))
    # records are still found by number next to it
    inc = ctx.incident(title="next to stats")
    eq(ctx.get("/incidents/%s" % inc["number"]).expect(200).json["id"], inc["id"], "GET by number")
    # every type has stats
    j = ctx.get("/groups/stats?by=state", user="alice").expect(200).json
    check(j["total"] >= 1 and j["by"] == ["state"], "groups/stats: %r" % j)


# ---- the desk report ------------------------------------------------------------

def desk_expected(recs, lo, hi):
    """The desk figures of recs (as an admin reads them) over [lo, hi)."""
    def inside(v):
        return v is not None and lo <= when(v) < hi

    def figures(rs):
        cin = [r for r in rs if inside(r["created_at"])]
        out = [r for r in rs if inside(r["resolved_at"])]
        open_ = [r for r in rs if r["state"] not in FINAL]
        f = {
            "tickets_in": len(cin),
            "tickets_out": len(out),
            "backlog": len(open_),
            "backlog_lt_1d": len(open_),  # everything was made just now
            "backlog_1d_3d": 0, "backlog_3d_7d": 0, "backlog_gt_7d": 0,
            "fcr": sum(1 for r in out if r["reassignment_count"] == 0 and r["escalation_count"] == 0),
            "reassignments": sum(r["reassignment_count"] for r in out),
            "reopened": sum(1 for r in out if r["reopen_count"] > 0),
            "escalations": sum(r["escalation_count"] for r in cin),
            "escalated": sum(1 for r in cin if r["escalation_level"] > 0),
        }
        f["fcr_rate"] = f["fcr"] / len(out) if out else None
        f["reopen_rate"] = f["reopened"] / len(out) if out else None
        f["mttr_hours"] = (sum(hours(r["created_at"], r["resolved_at"]) for r in out) / len(out)
                           if out else None)
        byp = {}
        for r in out:
            byp.setdefault(str(r["priority"]), []).append(hours(r["created_at"], r["resolved_at"]))
        f["mttr_hours_by_priority"] = {k: sum(v) / len(v) for k, v in byp.items()}
        return f

    names = sorted({r["assignment_group"] for r in recs}, key=lambda n: (n is None, n or ""))
    groups = []
    for n in names:
        g = {"group": n}
        g.update(figures([r for r in recs if r["assignment_group"] == n]))
        groups.append(g)
    return groups, figures(recs)


def check_figures(got, want, what):
    for k, v in want.items():
        if k in ("mttr_hours", "fcr_rate", "reopen_rate"):
            near(got.get(k), v, "%s %s" % (what, k))
        elif k == "mttr_hours_by_priority":
            eq(sorted(got[k]), sorted(v), "%s priorities" % what)
            for p, h in v.items():
                near(got[k][p], h, "%s mttr of priority %s" % (what, p))
        else:
            eq(got.get(k), v, "%s %s" % (what, k))


def desk_site_data(s):
    """Incidents worked through the API: resolved, reassigned, escalated,
    reopened, cancelled, left open."""
    for g in ("net", "apps"):
        s.create("groups", {"name": g, "display_name": g})
    res = dict(resolution_code="fixed", resolution_notes="done")
    i1 = s.incident(user="alice", title="vpn down", assignment_group="net", impact=1, urgency=1)
    s.transition(i1["id"], "resolved", **res).expect(200)
    i2 = s.incident(user="alice", title="mail slow", assignment_group="net", impact=2, urgency=2)
    s.patch("/incidents/%d" % i2["id"], {"assignment_group": "apps"}, version=i2["version"],
            user="alice").expect(200)
    s.transition(i2["id"], "resolved", **res).expect(200)
    i3 = s.incident(user="alice", title="app error", assignment_group="apps", impact=2, urgency=1)
    s.post("/incidents/%d/transition" % i3["id"],
           {"transition": "escalate", "assignment_group": "net", "reason": "needs network"},
           user="alice").expect(200)
    i4 = s.incident(user="alice", title="printer", assignment_group="net", impact=3, urgency=3)
    s.transition(i4["id"], "resolved", **res).expect(200)
    s.transition(i4["id"], "in_progress").expect(200)  # reopen
    s.transition(i4["id"], "resolved", **res).expect(200)
    s.transition(i4["id"], "closed").expect(200)
    s.incident(user="eve", title="question")  # unassigned, new
    i6 = s.incident(user="alice", title="dup", assignment_group="apps")
    s.transition(i6["id"], "cancelled").expect(200)
    r = s.get("/incidents?limit=500", user="admin").expect(200)
    return r.json["items"]


def test_desk_report(ctx):
    with ctx.new_site("desk", users=[("alice", "agent"), ("eve", "enduser", "acme"),
                                     ("audrey", "auditor")]) as s:
        lo = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
        recs = desk_site_data(s)
        hi = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
        for counter in ("reopen_count", "reassignment_count", "escalation_count"):
            check(any(r[counter] for r in recs), "the engine counted a %s: %r" %
                  (counter, [(r["number"], r[counter]) for r in recs]))
        q = "from=%s&to=%s" % (urlq(iso(lo)), urlq(iso(hi)))
        j = s.get("/reports/desk?" + q, user="alice").expect(200).json
        eq(j["from"], iso(lo), "from, normalised")
        check(j["group"] is None and isinstance(j.get("as_of"), str), "group and as_of: %r" % j)
        groups, total = desk_expected(recs, lo, hi)
        eq([g["group"] for g in j["groups"]], [g["group"] for g in groups], "groups, by name, unassigned last")
        for got, want in zip(j["groups"], groups):
            check_figures(got, want, "group %s:" % want["group"])
        check_figures(j["total"], total, "total:")
        check("group" not in j["total"], "the total row names no group")
        # spot checks of the hand-made figures
        eq(total["tickets_in"], 6, "six incidents created")
        eq(total["tickets_out"], 3, "three resolved")
        # open is "not final", as for lists: resolved ones await closure
        eq(total["backlog"], 4, "four still open (two new, two resolved)")

        # an auditor may; an end user may not
        eq(s.get("/reports/desk?" + q, user="audrey").expect(200).json["total"]["tickets_in"], 6, "auditor")
        s.get("/reports/desk?" + q, user="eve").problem(403)

        # one group
        one = s.get("/reports/desk?%s&group=net" % q, user="alice").expect(200).json
        eq([g["group"] for g in one["groups"]], ["net"], "group=net")
        want_net = [g for g in groups if g["group"] == "net"][0]
        check_figures(one["groups"][0], want_net, "group=net:")
        check_figures(one["total"], {k: v for k, v in want_net.items() if k != "group"}, "total of group=net:")

        # a period long past: nothing in or out, the backlog is now's
        old = s.get("/reports/desk?from=2000-01-01&to=2000-02-01", user="alice").expect(200).json
        eq((old["total"]["tickets_in"], old["total"]["tickets_out"], old["total"]["backlog"]),
           (0, 0, total["backlog"]), "a past period")
        eq(old["from"], "1999-12-31T15:00:00.000Z", "a date is midnight in the site's zone")

        # csv
        rows = rows_of_csv(s.get("/reports/desk?%s&format=csv" % q, user="alice"))
        eq(rows[0][:4], ["group", "tickets_in", "tickets_out", "backlog"], "csv header")
        check("mttr_hours_p1" in rows[0] and rows[0][-1] == "escalated", "csv header: %r" % rows[0])
        eq([r[0] for r in rows[1:]], [g["group"] or "(unassigned)" for g in groups] + ["(total)"],
           "csv rows: the groups, then the total")
        col = rows[0].index("tickets_in")
        eq([int(r[col]) for r in rows[1:]], [g["tickets_in"] for g in groups] + [total["tickets_in"]],
           "csv tickets_in")

        # bad input names the parameter
        for bq, field in (("to=%s" % urlq(iso(hi)), "from"),
                          ("from=%s" % urlq(iso(lo)), "to"),
                          ("from=soon&to=%s" % urlq(iso(hi)), "from"),
                          ("from=2026-11-01T00:00:00&to=2026-12-01", "from"),
                          ("from=2026-12-01&to=2026-11-01", "from"),
                          ("from=2026-11-01&to=2026-12-31T25:00:00Z", "to"),
                          (q + "&group=nosuch", "group"),
                          (q + "&format=pdf", "format"),
                          (q + "&colour=red", "colour"),
                          (q + "&from=2026-01-01", "from")):
            s.get("/reports/desk?" + bq, user="alice").problem(400, field)
        s.post("/reports/desk", {}, user="alice").problem(405)


# ---- incident trends ------------------------------------------------------------

def test_incident_trends(ctx):
    with ctx.new_site("trends", users=[("alice", "agent"), ("eve", "enduser", "acme"),
                                       ("audrey", "auditor")]) as s:
        s.create("services", {"name": "mail", "criticality": "low"})
        s.create("services", {"name": "vpn", "criticality": "low"})
        s.create("cis", {"name": "mx1", "class": "server"})
        lo = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
        spec = [
            dict(category="network", subcategory="vpn", service="vpn"),
            dict(category="network", subcategory="vpn", service="vpn"),
            dict(category="network", subcategory="vpn", service="vpn", ci="mx1"),
            dict(category="network", subcategory="lan"),
            dict(category="software", subcategory="email", service="mail", ci="mx1"),
            dict(category="software", subcategory="email", service="mail", ci="mx1"),
            dict(category="hardware", subcategory="printer"),
        ]
        made = [s.incident(user="alice", title="trend %d" % k, impact=3, urgency=3, **sp)
                for k, sp in enumerate(spec)]
        for k, code in ((0, "fixed"), (1, "fixed"), (4, "workaround")):
            s.transition(made[k]["id"], "resolved", resolution_code=code, resolution_notes="x").expect(200)
        hi = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)
        recs = s.get("/incidents?limit=500").expect(200).json["items"]
        period = "from=%s&to=%s" % (urlq(iso(lo)), urlq(iso(hi)))

        def trends(by, extra="", user="alice"):
            return s.get("/reports/incident-trends?%s&by=%s%s" % (period, by, extra), user=user).expect(200).json

        j = trends("category")
        eq(j["by"], ["category"], "by")
        eq(j["threshold"], 3, "the default threshold")
        eq(j["total"], 7, "incidents in the period")
        expect_groups(j["groups"], recs, ["category"], what="trends by category")
        eq(j["candidates"], [{"key": {"category": "network"}, "count": 4}], "candidates at 3")

        j = trends("category,subcategory", "&threshold=2")
        expect_groups(j["groups"], recs, ["category", "subcategory"], what="by category,subcategory")
        eq(j["candidates"], [{"key": {"category": "network", "subcategory": "vpn"}, "count": 3},
                             {"key": {"category": "software", "subcategory": "email"}, "count": 2}],
           "candidates at 2, most first")

        for by in ("service", "ci", "resolution_code", "service,ci", "service,ci,category"):
            names = by.split(",")
            j = trends(by, "&threshold=1")
            expect_groups(j["groups"], recs, names, what="by " + by)
            eq(j["candidates"], j["groups"], "threshold 1: every group is a candidate (%s)" % by)

        j = trends("resolution_code", "&threshold=8")
        eq(j["candidates"], [], "nothing reaches 8")
        eq(trends("category", user="audrey")["total"], 7, "an auditor may")

        # a period before everything
        j = s.get("/reports/incident-trends?from=2001-01-01&to=2001-12-31&by=category").expect(200).json
        eq((j["total"], j["groups"], j["candidates"]), (0, [], []), "an empty period")

        rows = rows_of_csv(s.get("/reports/incident-trends?%s&by=category,subcategory&threshold=2&format=csv"
                                 % period, user="alice"))
        eq(rows[0], ["category", "subcategory", "count", "candidate"], "csv header")
        eq(rows[1], ["network", "vpn", "3", "yes"], "csv first row")
        eq(sorted(r[3] for r in rows[1:]), ["no", "no", "yes", "yes"], "csv candidates")

        s.get("/reports/incident-trends?%s&by=category" % period, user="eve").problem(403)
        for bq, field in ((period, "by"),
                          (period + "&by=", "by"),
                          (period + "&by=title", "by"),
                          (period + "&by=assignment_group", "by"),
                          (period + "&by=category,category", "by"),
                          (period + "&by=category,", "by"),
                          (period + "&by=service,ci,category,subcategory", "by"),
                          (period + "&by=category&threshold=0", "threshold"),
                          (period + "&by=category&threshold=two", "threshold"),
                          ("by=category&to=2026-12-01", "from"),
                          ("by=category&from=2026-12-01", "to"),
                          ("by=category&from=2026-12-02&to=2026-12-01", "from"),
                          (period + "&by=category&format=xlsx", "format")):
            s.get("/reports/incident-trends?" + bq, user="alice").problem(400, field)
