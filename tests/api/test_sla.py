# SPDX-License-Identifier: Apache-2.0
"""Service level management: business-time arithmetic (API and CLI), the
built-in Japanese holidays and calendars, agreements and their checks, SLA
clocks through a ticket's life on a controlled clock (libfaketime moves the
server's time), warnings and breaches from the background timer, the SLA
report against hand-computed figures, the fit of OLAs and contracts, and
satisfaction results."""

import calendar
import email.utils
import os
import time

from harness import change_of, check, eq, fail, unique

FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


def epoch(s):
    """Seconds since the epoch of '2026-11-20T15:30:00+09:00' or '...Z'."""
    if s.endswith("Z"):
        return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))
    base, off = s[:19], s[19:]
    sign = 1 if off[0] == "+" else -1
    h, m = int(off[1:3]), int(off[4:6])
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) - sign * (h * 3600 + m * 60)


def utc(s):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch(s)))


class FakeClock:
    """The server's time, moved by rewriting libfaketime's offset file."""

    def __init__(self, site, start):
        check(os.path.exists(FAKETIME), "libfaketime is not installed (%s)" % FAKETIME)
        self.site = site
        self.path = os.path.join(site.dir, "faketime")
        self.set(start)

    def set(self, when):
        with open(self.path + ".tmp", "w") as f:
            f.write("%+d\n" % (epoch(when) - int(time.time())))
        os.replace(self.path + ".tmp", self.path)
        if self.site.proc is None:
            return
        # the library rereads the file now and then: wait until the server's
        # Date header shows the new time
        want = epoch(when)
        for _ in range(100):
            r = self.site.get("/health")
            got = calendar.timegm(email.utils.parsedate(r.header("Date")))
            if abs(got - want) < 30:
                return
            time.sleep(0.1)
        fail("the server's clock did not move to %s" % when)

    def env(self):
        env = {"LD_PRELOAD": FAKETIME, "FAKETIME_TIMESTAMP_FILE": self.path,
               "FAKETIME_CACHE_DURATION": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
        asan = os.environ.get("ASAN_OPTIONS", "")
        env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "verify_asan_link_order=0"
        return env


def near(got, want, what, tol=5):
    """got within tol of want: numbers, or UTC times as strings."""
    if isinstance(want, str):
        check(isinstance(got, str) and abs(epoch(got) - epoch(want)) <= tol,
              "%s: expected about %s, got %r" % (what, want, got))
    else:
        check(isinstance(got, int) and abs(got - want) <= tol,
              "%s: expected about %s, got %r" % (what, want, got))


def wait_for(pred, what, timeout=15):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    fail("timed out waiting for " + what)


# ---- business-time arithmetic ------------------------------------------------------

def test_calendar_due_and_between_in_the_api(ctx):
    r = ctx.get("/calendar/due?from=2026-11-20T15:30%2B09:00&duration=6h&hours=09:00-18:00"
                "&days=mon-fri&holidays=jp").expect(200)
    # Friday 2.5 h, Monday 11/23 is 勤労感謝の日, Tuesday 3.5 h
    eq(r.json["due"], "2026-11-24T12:30:00+09:00", "due across a holiday")
    eq(r.json["due_utc"], "2026-11-24T03:30:00Z", "the same in UTC")
    eq(r.json["seconds"], 21600, "the duration")
    r = ctx.get("/calendar/between?from=2026-11-20T15:30%2B09:00&to=2026-11-24T12:30%2B09:00"
                "&holidays=jp").expect(200)
    eq((r.json["seconds"], r.json["duration"]), (21600, "6h"), "between is the inverse")
    # the stored calendar closes 12/29-1/3
    r = ctx.get("/calendar/due?from=2026-12-28T17:00%2B09:00&duration=2h&calendar=standard")
    eq(r.expect(200).json["due"], "2027-01-04T10:00:00+09:00", "year-end closure")
    r = ctx.get("/calendar/due?from=2026-12-28T17:00%2B09:00&duration=2h&calendar=24x7")
    eq(r.expect(200).json["due"], "2026-12-28T19:00:00+09:00", "around the clock")
    # lunch break and another zone
    r = ctx.get("/calendar/due?from=2026-11-25T11:00%2B09:00&duration=2h"
                "&hours=09:00-12:00,13:00-18:00").expect(200)
    eq(r.json["due"], "2026-11-25T14:00:00+09:00", "the lunch hour does not count")
    r = ctx.get("/calendar/between?from=2026-03-06T12:00-05:00&to=2026-03-09T12:00-04:00"
                "&hours=00:00-24:00&days=mon-sun&holidays=none&time_zone=America/New_York")
    eq(r.expect(200).json["seconds"], 71 * 3600, "a spring-forward day has 23 hours")


def test_calendar_api_refuses_bad_input(ctx):
    for q, field in (("from=2026-11-20T15:30%2B09:00&duration=1d", "duration"),
                     ("from=2026-11-20T15:30%2B09:00&duration=", "duration"),
                     ("from=2026-11-20&duration=1h", "from"),
                     ("duration=1h", "from"),
                     ("from=2026-11-20T15:30%2B09:00&duration=1h&hours=9-18", None),
                     ("from=2026-11-20T15:30%2B09:00&duration=1h&days=monday", "days"),
                     ("from=2026-11-20T15:30%2B09:00&duration=1h&time_zone=Mars/Olympus", None),
                     ("from=2026-11-20T15:30%2B09:00&duration=1h&bogus=1", "bogus")):
        r = ctx.get("/calendar/due?" + q)
        r.problem(400, field)
    ctx.get("/calendar/due?from=2026-11-20T15:30%2B09:00&duration=1h&calendar=nope").problem(404)
    ctx.get("/calendar/due?from=2026-11-20T15:30%2B09:00&duration=1h&calendar=standard"
            "&hours=09:00-17:00").problem(400, "calendar")


def test_calendar_cli(ctx):
    p = ctx.cli_ok("calendar", "due", "--from", "2026-11-20T15:30+09:00", "--duration", "6h",
                   "--hours", "09:00-18:00", "--days", "mon-fri", "--holidays", "jp")
    eq(p.stdout.strip(), "2026-11-24T12:30:00+09:00", "kanri calendar due")
    p = ctx.cli_ok("calendar", "between", "--from", "2026-11-20T15:30+09:00",
                   "--to", "2026-11-24T12:30+09:00")
    check(p.stdout.startswith("6h (21600 seconds)"), "kanri calendar between: %r" % p.stdout)
    p = ctx.cli_ok("calendar", "due", "--data", ctx.data, "--calendar", "standard",
                   "--from", "2026-12-28T17:00+09:00", "--duration", "2h")
    eq(p.stdout.strip(), "2027-01-04T10:00:00+09:00", "a stored calendar")
    p = ctx.cli("calendar", "due", "--from", "2026-11-20T15:30+09:00", "--duration", "2d")
    check(p.returncode != 0 and "hours" in p.stderr, "days refused: %s" % p.stderr)
    p = ctx.cli("calendar", "due", "--from", "2026-11-20T15:30+09:00", "--duration", "2h",
                "--except", "2026-11-20..2026-11-19x")
    check(p.returncode != 0 and p.stderr, "a bad exception is refused: %s" % p.stderr)
    p = ctx.cli("calendar", "due", "--from", "2026-11-20T15:30+09:00", "--duration", "2h",
                "--calendar", "standard")
    eq(p.returncode, 2, "--calendar without --data is a usage error")


def test_japanese_holidays_and_calendars_are_built_in(ctx):
    items = ctx.get("/holidays?set=jp&date=2026-11-23").expect(200).json["items"]
    eq([(h["name"], h["name_en"]) for h in items], [("勤労感謝の日", "Labour Thanksgiving Day")],
       "11/23")
    items = ctx.get("/holidays?set=jp&date[gte]=2026-09-01&date[lt]=2026-10-01&sort=date")
    eq([h["date"] for h in items.expect(200).json["items"]],
       ["2026-09-21", "2026-09-22", "2026-09-23"], "敬老の日, 国民の休日, 秋分の日")
    cal = ctx.get("/calendars/standard").expect(200).json
    eq((cal["time_zone"], cal["holidays"]), ("Asia/Tokyo", "jp"), "the standard calendar")
    # an admin edits the list: a company holiday closes the day
    ctx.create("holidays", {"set": "jp", "date": "2026-11-24", "name": "創立記念日",
                            "name_en": "Foundation day"})
    try:
        r = ctx.get("/calendar/due?from=2026-11-20T15:30%2B09:00&duration=6h&calendar=standard")
        eq(r.expect(200).json["due"], "2026-11-25T12:30:00+09:00", "the new holiday counts")
    finally:
        h = ctx.get("/holidays?date=2026-11-24").expect(200).json["items"][0]
        ctx.transition(h["number"], "withdrawn", user="admin", plural="holidays").expect(200)
    r = ctx.get("/calendar/due?from=2026-11-20T15:30%2B09:00&duration=6h&calendar=standard")
    eq(r.expect(200).json["due"], "2026-11-24T12:30:00+09:00", "withdrawn again")


def test_calendars_are_checked_when_saved(ctx):
    name = unique("cal")
    for body, field in (({"hours": {"mon": ["9-18"]}}, "hours"),
                        ({"hours": {"funday": ["09:00-18:00"]}}, "hours"),
                        ({"time_zone": "Nowhere/Land"}, "time_zone"),
                        ({"holidays": "atlantis"}, "holidays"),
                        ({"hours": {}}, "hours"),
                        ({"exceptions": [{"from": "13-45"}]}, "exceptions")):
        b = {"name": name}
        b.update(body)
        ctx.post("/calendars", b).problem(422, field)
    eq(ctx.total("name=%s" % name, plural="calendars"), 0, "nothing saved")


# ---- agreements ------------------------------------------------------------------

def sla_body(name, service, **extra):
    b = {"name": name, "title": "Mail standard", "service": service, "calendar": "standard",
         "targets": [{"type": "incident", "clock": "response", "target": "1h", "goal": 95},
                     {"type": "incident", "clock": "resolution", "priority": 3, "target": "6h",
                      "goal": 90},
                     {"type": "incident", "clock": "resolution", "target": "16h"}]}
    b.update(extra)
    return b


def test_agreements_are_checked_when_saved(ctx):
    svc = unique("svc")
    ctx.create("services", {"name": svc})
    for extra, field in (({"targets": [{"clock": "lunch", "target": "1h"}]}, "targets"),
                         ({"targets": [{"clock": "response", "target": "1d"}]}, "targets"),
                         ({"targets": [{"clock": "response", "target": "1h", "priority": 9}]},
                          "targets"),
                         ({"targets": [{"clock": "response", "target": "1h"},
                                       {"clock": "response", "target": "2h"}]}, "targets"),
                         ({"targets": "4h"}, "targets"),
                         ({"warnings": [90, 50]}, "warnings"),
                         ({"availability_target": "120"}, "availability_target"),
                         ({"workload": [{"type": "request", "per": "year", "limit": 5}]},
                          "workload"),
                         ({"valid_from": "2027-01-01", "valid_to": "2026-01-01"}, "valid_to"),
                         ({"agreement_type": "ola"}, "supports")):
        ctx.post("/slas", sla_body(unique("sla"), svc, **extra)).problem(422, field)
    ctx.post("/slas", sla_body(unique("sla"), svc), user="alice").expect(403)


def test_sla_clocks_through_an_incident_life(ctx):
    with ctx.new_site("slaclock", start=False, config={"jobs": {"timers_ms": 200}}) as s:
        clock = FakeClock(s, "2026-11-20T15:30:00+09:00")  # a Friday
        s.start(env=clock.env())
        s.create("services", {"name": "mail"})
        sla = s.create("slas", sla_body("mail-std", "mail", warnings=[50, 75, 90]))
        s.transition(sla["number"], "active", user="admin", plural="slas").expect(200)
        inc = s.incident(user="admin", title="mail is slow", service="mail", impact=2, urgency=2,
                         assignee="admin")
        eq(inc["priority"], 3, "priority from the matrix")
        eq(inc["sla"], "mail-std", "the SLA applies")
        eq((inc["resolution_target"], inc["response_target"]), (21600, 3600), "targets")
        eq(inc["resolution_state"], "running", "running")
        near(inc["resolution_due"], utc("2026-11-24T12:30:00+09:00"), "due over the holiday")
        near(inc["response_due"], utc("2026-11-20T16:30:00+09:00"), "response due")
        num = inc["number"]

        # Tuesday 10:00: 3.5 h of 6 used (58%), the response long overdue
        clock.set("2026-11-24T10:00:00+09:00")
        rec = wait_for(lambda: (lambda r: r if r["response_breached"] and
                                r["resolution_warned"] == 50 else None)(s.record(num)),
                       "the timer's warning and breach")
        near(rec["response_breached_at"], utc("2026-11-20T16:30:00+09:00"),
             "breached when the target passed")
        eq(rec["response_warned"], 100, "a breach is 100%")
        notes = s.get("/notifications?record=%s" % num).expect(200).json["items"]
        check(any(n["subject_en"].startswith("SLA 50% used " + num) for n in notes),
              "the assignee is warned at 50%%: %s" % [n["subject_en"] for n in notes])
        j = s.journal(num)
        check(any(change_of(e, "response_breached") == (False, True) and
                  (e.get("reason") or "").startswith("clock ") for e in j),
              "the breach is journalled as the clock's: %s" % j[-1])

        # on hold for the caller: the resolution clock pauses, the response clock stops
        r = s.transition(num, "on_hold", user="admin", hold_reason="awaiting_caller").expect(200)
        eq((r.json["resolution_state"], r.json["resolution_due"]), ("paused", None), "paused")
        near(r.json["resolution_elapsed"], 12600, "paused at 3.5 h")
        eq(r.json["response_state"], "stopped", "holding is a response")

        clock.set("2026-11-24T14:00:00+09:00")
        r = s.transition(num, "in_progress", user="admin").expect(200)
        eq(r.json["resolution_state"], "running", "resumed")
        near(r.json["resolution_due"], utc("2026-11-24T16:30:00+09:00"), "due moved by the pause",
             tol=10)
        eq(r.json["response_state"], "stopped", "a response clock never restarts")

        # past due: the timer records the breach; resolving needs a reason
        clock.set("2026-11-24T17:00:00+09:00")
        rec = wait_for(lambda: (lambda r: r if r["resolution_breached"] else None)(s.record(num)),
                       "the resolution breach")
        near(rec["resolution_breached_at"], utc("2026-11-24T16:30:00+09:00"), "breached at due",
             tol=10)
        notes = s.get("/notifications?record=%s" % num).expect(200).json["items"]
        check(any(n["subject_en"].startswith("SLA breached " + num) for n in notes),
              "the assignee is told: %s" % [n["subject_en"] for n in notes])
        r = s.transition(num, "resolved", user="admin", resolution_code="fixed",
                         resolution_notes="queue drained")
        r.problem(422, "breach_reason")
        r = s.transition(num, "resolved", user="admin", resolution_code="fixed",
                         resolution_notes="queue drained",
                         breach_reason="waited for the vendor's patch").expect(200)
        eq(r.json["resolution_state"], "stopped", "stopped")
        near(r.json["resolution_elapsed"], 23400, "6.5 h", tol=10)
        near(r.json["resolution_stopped_at"], utc("2026-11-24T17:00:00+09:00"), "stopped at")

        # a second incident meets its targets
        clock.set("2026-11-25T09:00:00+09:00")
        ok = s.incident(user="admin", title="one mailbox", service="mail", impact=2, urgency=2)
        s.transition(ok["number"], "in_progress", user="admin").expect(200)
        clock.set("2026-11-25T11:00:00+09:00")
        r = s.transition(ok["number"], "resolved", user="admin", resolution_code="fixed",
                         resolution_notes="quota raised").expect(200)
        eq(r.json["resolution_breached"], False, "met")
        near(r.json["resolution_elapsed"], 7200, "2 h")

        # the report, by hand: resolution P3 2 tickets, 1 met; response 2, 1 met
        rep = s.get("/reports/sla?sla=mail-std&from=2026-11-01&to=2026-12-01").expect(200).json
        rows = {(t["clock"], t["priority"]): t for t in rep["targets"]}
        p3 = rows[("resolution", 3)]
        eq((p3["tickets"], p3["met"], p3["breached"], p3["achievement"], p3["goal_met"]),
           (2, 1, 1, 50.0, False), "resolution P3")
        resp = rows[("response", None)]
        eq((resp["tickets"], resp["met"], resp["breached"]), (2, 1, 1), "response")
        eq(rows[("resolution", None)]["tickets"], 0, "the any-priority row has none")
        reasons = {(b["number"], b["clock"]): b["reason"] for b in rep["breaches"]}
        eq(reasons.get((num, "resolution")), "waited for the vendor's patch", "the reason")
        check((num, "response") in reasons, "the response breach is listed")
        trend = [t for t in rep["trend"] if (t["type"], t["clock"]) == ("incident", "resolution")]
        eq(trend[-1]["month"], "2026-11", "the trend ends with the period's month")
        eq((trend[-1]["tickets"], trend[-1]["achievement"]), (2, 50.0), "this month")
        eq(trend[0]["tickets"], 0, "earlier months are empty")
        r = s.get("/reports/sla?sla=mail-std&from=2026-11-01&to=2026-12-01&format=csv")
        r.expect(200)
        check(r.ctype.startswith("text/csv"), "CSV: %s" % r.ctype)
        text = r.body.decode("utf-8-sig")
        check(text.startswith("type,clock,priority,target,goal,tickets,met,breached"),
              "the CSV header: %r" % text[:80])
        check("incident,resolution,3,6h,90,2,1,1,50" in text, "the P3 row: %r" % text)
        r = s.get("/reports/sla?sla=mail-std&from=2026-11-01&to=2026-12-01&format=xlsx")
        check(r.expect(200).body[:2] == b"PK", "an xlsx workbook")
        s.get("/reports/sla?sla=nope&from=2026-11-01&to=2026-12-01").problem(404, "sla")
        s.get("/reports/sla?from=2026-11-01&to=2026-12-01").problem(400, "sla")

        # a priority change moves the target and the due time of an open ticket
        clock.set("2026-11-25T13:00:00+09:00")
        two = s.incident(user="admin", title="all mail down", service="mail", impact=3,
                         urgency=3)
        eq((two["priority"], two["resolution_target"]), (5, 57600), "P5 takes the 16h row")
        r = s.patch("/incidents/" + two["number"], {"impact": 2, "urgency": 2},
                    version=two["version"]).expect(200)
        eq(r.json["resolution_target"], 21600, "P3 now")
        near(r.json["resolution_due"], utc("2026-11-26T10:00:00+09:00"),
             "5 h today, 1 h tomorrow")

        # editing the SLA recomputes the open ticket's due time
        sla = s.record("mail-std", plural="slas")
        s.transition("mail-std", "draft", user="admin", plural="slas",
                     reason="targets revised").expect(200)
        body = sla_body("mail-std", "mail")
        body["targets"][1]["target"] = "7h"
        s.patch("/slas/mail-std", {"targets": body["targets"]},
                version=s.record("mail-std", plural="slas")["version"]).expect(200)
        s.transition("mail-std", "active", user="admin", plural="slas").expect(200)
        rec = wait_for(lambda: (lambda r: r if r["resolution_target"] == 25200 else None)(
            s.record(two["number"])), "the recompute")
        near(rec["resolution_due"], utc("2026-11-26T11:00:00+09:00"), "due recomputed")
        p = s.cli_ok("sla", "recompute", "--data", s.data)
        check("clocks checked" in p.stdout, "kanri sla recompute: %s" % p.stdout)
        p = s.cli_ok("audit", "verify", "--data", s.data)


def test_ola_and_contract_fit_inside_the_sla(ctx):
    svc = unique("svc")
    ctx.create("services", {"name": svc})
    sla = unique("sla")
    ctx.create("slas", sla_body(sla, svc))
    grp = unique("grp")
    ctx.create("groups", {"name": grp})
    ola = unique("ola")
    ctx.create("slas", {"name": ola, "title": "Network OLA", "agreement_type": "ola",
                        "supports": sla, "provider_group": grp, "calendar": "standard",
                        "targets": [{"type": "incident", "clock": "resolution", "priority": 3,
                                     "target": "4h"}]})
    uc = unique("uc")
    ctx.create("slas", {"name": uc, "title": "Carrier contract", "agreement_type": "uc",
                        "supports": sla, "supplier": "Carrier K.K.", "calendar": "24x7",
                        "targets": [{"type": "incident", "clock": "resolution", "priority": 3,
                                     "target": "8h"}]})
    ctx.post("/slas", {"name": unique("x"), "title": "x", "agreement_type": "ola",
                       "supports": ola, "provider_group": grp,
                       "targets": []}).problem(422, "supports")
    r = ctx.get("/slas/%s/fit" % sla).expect(200).json
    by = {a["agreement"]: a for a in r["supporting"]}
    eq(by[ola]["fits"], True, "4 business hours fit inside 6")
    eq(by[uc]["fits"], False, "8 clock hours do not fit inside 6 business hours at 09:00")
    w = by[uc]["targets"][0]["worst"]
    check(epoch(w["supplier_due"]) > epoch(w["sla_due"]) and w["over_by"],
          "the worst case: %s" % w)
    eq(r["fits"], False, "not every supplier fits")
    eq(ctx.get("/slas/%s/fit" % ola).expect(200).json["fits"], True, "from the OLA's side")
    ctx.get("/slas/%s/fit" % sla, user="eve").expect(403)


def test_availability_against_its_target(ctx):
    svc = unique("svc")
    ctx.create("services", {"name": svc})
    sla = unique("sla")
    ctx.create("slas", {"name": sla, "title": "24x7 availability", "service": svc,
                        "calendar": "24x7", "availability_target": "99.5", "targets": []})
    ctx.incident(title="outage", service=svc, outage_start="2026-10-10T00:00:00Z",
                 outage_end="2026-10-10T06:00:00Z")
    ctx.incident(title="overlapping", service=svc, outage_start="2026-10-10T05:00:00Z",
                 outage_end="2026-10-10T07:00:00Z")
    rep = ctx.get("/reports/sla?sla=%s&from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z"
                  % sla).expect(200).json
    av = rep["availability"]
    eq((av["agreed_seconds"], av["downtime_seconds"], av["outages"]), (31 * 86400, 7 * 3600, 2),
       "seven hours down in October (overlap once)")
    eq(av["actual"], round(100 * (31 * 24 - 7) / (31 * 24), 3), "availability")
    eq(av["met"], False, "below 99.5%")


# ---- business relationship ---------------------------------------------------------------

def test_customers_reviews_and_complaints(ctx):
    cus = ctx.create("customers", {"name": "acme", "display_name": "ACME 株式会社",
                                   "contacts": [{"name": "山田 太郎", "role": "部長",
                                                 "email": "yamada@acme.example"}]})
    check(cus["number"].startswith("CUS-"), "numbered")
    ctx.post("/customers", {"name": "x" + unique(), "display_name": "x",
                            "contacts": [{"role": "no name"}]}).problem(422, "contacts")
    svc = unique("svc")
    ctx.create("services", {"name": svc})
    rev = ctx.create("service_reviews", {"title": "Q3 review", "service": svc,
                                         "customer": "acme", "period_from": "2026-07-01",
                                         "period_to": "2026-09-30"})
    ctx.transition(rev["number"], "held", user="admin",
                   plural="service_reviews").problem(422, "held_on")
    r = ctx.transition(rev["number"], "held", user="admin", plural="service_reviews",
                       held_on="2026-10-15", outcomes="targets met; add a weekend shift")
    eq(r.expect(200).json["state"], "held", "a review is recorded")
    c = ctx.create("complaints", {"title": "slow answers", "description": "three days",
                                  "service": svc}, user="eve")
    eq(c["organisation"], "acme", "an end user's own organisation")
    c = ctx.patch("/complaints/" + c["number"], {"customer": "acme", "owner": "alice"},
                  version=c["version"], user="alice").expect(200).json
    eq(c["state"], "received", "received")
    ctx.transition(c["number"], "resolved", user="alice", plural="complaints",
                   resolution="added staff").expect(200)
    ctx.transition(c["number"], "closed", user="alice", plural="complaints").problem(422)
    ctx.transition(c["number"], "closed", user="alice", plural="complaints",
                   response="we added staff",
                   informed_at="2026-11-26T10:00:00+09:00").expect(200)
    eq(len(ctx.get("/complaints", user="mallory").expect(200).json["items"]), 0,
       "another organisation's users do not see it")
    st = ctx.get("/complaints/stats?by=service,state&service=%s" % svc).expect(200).json
    eq([(g["key"]["state"], g["count"]) for g in st["groups"]], [("closed", 1)],
       "complaints reported per service")


def test_satisfaction_results_per_service(ctx):
    svc = unique("svc")
    ctx.create("services", {"name": svc})
    ratings = [5, 3]
    for rating in ratings + [None]:
        inc = ctx.incident(title=unique("sat"), caller="eve", service=svc)
        ctx.transition(inc["number"], "resolved", resolution_code="fixed",
                       resolution_notes="done").expect(200)
        ctx.transition(inc["number"], "closed").expect(200)
        if rating:
            s = ctx.get("/surveys?ticket=%s" % inc["number"], user="eve").json["items"][0]
            ctx.transition(s["number"], "answered", user="eve", plural="surveys",
                           rating=rating).expect(200)
    today = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 9 * 3600))
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 33 * 3600))
    rep = ctx.get("/reports/satisfaction?from=%s&to=%s&service=%s"
                  % (today, tomorrow, svc), user="alice").expect(200).json
    eq(len(rep["services"]), 1, "one service")
    row = rep["services"][0]
    eq((row["service"], row["sent"], row["answered"], row["mean_rating"], row["ratings"]),
       (svc, 3, 2, 4.0, [0, 0, 1, 0, 1]), "per service")
    eq(row["response_rate"], round(200 / 3, 3), "response rate")
    eq(rep["trend"][-1]["mean_rating"], 4.0, "this month")
    ctx.get("/reports/satisfaction?from=%s&to=%s" % (today, tomorrow), user="eve").expect(403)


def test_business_days_of_rules_follow_the_business_calendar(ctx):
    # incidents close 3 business days after resolution; the standard calendar
    # closes 12/29-1/3, so a ticket resolved on 12/28 closes on 1/6
    with ctx.new_site("slabdays", start=False, config={"jobs": {"timers_ms": 200}}) as s:
        clock = FakeClock(s, "2026-12-28T10:00:00+09:00")
        s.start(env=clock.env())
        inc = s.incident(user="admin", title="printer")
        s.transition(inc["number"], "resolved", user="admin", resolution_code="fixed",
                     resolution_notes="toner").expect(200)
        clock.set("2027-01-05T10:30:00+09:00")
        time.sleep(1)
        eq(s.record(inc["number"])["state"], "resolved", "two business days later")
        clock.set("2027-01-06T10:00:30+09:00")
        wait_for(lambda: s.record(inc["number"])["state"] == "closed", "the automatic close")


def test_service_catalogue_audience_and_dependencies(ctx):
    pub, staff = unique("svc"), unique("svc")
    ctx.create("services", {"name": pub, "display_name": "Mail", "service_type": "business",
                            "calendar": "standard", "requirements": "99.5% in service hours"})
    ctx.create("services", {"name": staff, "display_name": "Backup",
                            "service_type": "supporting", "audience": "staff"})
    names = {s["name"] for s in ctx.get("/services?limit=500", user="eve").json["items"]}
    check(pub in names and staff not in names, "end users see the public service only")
    ctx.get("/services/" + staff, user="eve").expect(404)
    ctx.get("/services/" + staff, user="alice").expect(200)
    ci = ctx.create("cis", {"name": unique("ci"), "class": "server"})
    r = ctx.post("/services/%s/relations" % pub, {"kind": "depends_on",
                                                  "target": "services/" + staff})
    r.expect(201)
    r = ctx.post("/services/%s/relations" % pub, {"kind": "depends_on",
                                                  "target": "cis/" + ci["number"]})
    r.expect(201)
    rel = ctx.get("/services/%s/relations" % pub).expect(200).json["items"]
    eq(sorted(x["kind"] for x in rel), ["depends_on", "depends_on"], "two dependencies")


def test_request_clock_pauses_for_approval(ctx):
    svc, grp = unique("svc"), unique("grp")
    ctx.create("services", {"name": svc})
    ctx.create("groups", {"name": grp, "manager": "alice"})
    sla = unique("sla")
    ctx.create("slas", {"name": sla, "title": "Requests", "service": svc, "applies_to": "request",
                        "calendar": "standard",
                        "targets": [{"type": "request", "clock": "resolution", "target": "27h"}]})
    ctx.transition(sla, "active", user="admin", plural="slas").expect(200)
    form = [{"name": "why", "kind": "text", "label": {"ja": "理由", "en": "Why"}}]

    def offering(**kw):
        body = {"name": unique("ofr"), "title": "Access", "service": svc, "form": form,
                "fulfilment_group": grp, "fulfilment": [{"title": "grant"}]}
        body.update(kw)
        o = ctx.create("offerings", body)
        ctx.transition(o["name"], "published", user="admin", plural="offerings").expect(200)
        return o["name"]

    mine = ctx.create("requests", {"offering": offering(), "answers": {"why": "new job"}},
                      user="eve")
    check(mine["resolution_due"] and mine["resolution_state"] == "running",
          "the requester sees the due time: %s" % mine)
    check("resolution_since" not in mine and "resolution_next" not in mine,
          "but not the clock's workings")
    req = ctx.record(mine["number"], plural="requests")
    eq((req["service"], req["sla"], req["resolution_target"], req["resolution_state"]),
       (svc, sla, 27 * 3600, "running"), "the offering's service gives the request its SLA")
    req = ctx.create("requests", {"offering": offering(approval="group", approval_group=grp),
                                  "answers": {"why": "audit"}}, user="eve")
    eq((req["state"], req["resolution_state"], req["resolution_due"]),
       ("awaiting_approval", "paused", None), "waiting for approval pauses the clock")
    inc = ctx.incident(title="no sla here", service=svc)
    eq((inc["sla"], inc["resolution_state"]), (None, None), "an SLA for requests only")
