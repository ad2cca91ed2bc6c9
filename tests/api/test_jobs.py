# SPDX-License-Identifier: Apache-2.0
"""Background jobs: records created on a schedule (config.json "schedules"),
once per due time, across restarts (with and without catch_up); the job
list GET /api/v1/admin/jobs and who may read it; schedules refused at start;
a schedule whose records fail validation."""

import calendar
import json
import os
import re
import time

from harness import ADMIN, check, eq, fail, free_port, short

ISO = "%Y-%m-%dT%H:%M:%SZ"
JOB_KEYS = {"name", "due_at", "held_until", "held_by", "runs", "attempts", "last_at", "last_error"}


def parse_ts(s):
    """Seconds since the epoch of a UTC time 2026-11-26T00:37:01Z or
    2026-11-26T00:37:01.123Z."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z", s or "")
    check(m, "not a UTC ISO time: %r" % s)
    return calendar.timegm(time.strptime(m.group(1) + "Z", ISO)) + float(m.group(2) or 0)


def iso(t, offset_h=0):
    """t (whole seconds) as ISO 8601 with the given offset from UTC."""
    if not offset_h:
        return time.strftime(ISO, time.gmtime(t))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t + offset_h * 3600)) + "%+03d:00" % offset_h


def jobs(s, user=ADMIN):
    r = s.get("/admin/jobs", user=user).expect(200)
    items = r.json.get("items") if isinstance(r.json, dict) else None
    check(isinstance(items, list), "GET /admin/jobs is not {items: [...]}: %s" % r)
    for j in items:
        check(set(j) <= JOB_KEYS and {"name", "due_at", "runs", "attempts"} <= set(j),
              "a job's keys: %r" % sorted(j))
    return {j["name"]: j for j in items}


def scheduled(s, prefix):
    """The incidents whose title starts with prefix + " ", as {slot: record}
    (slot: the due time in the title, in seconds); fails on a duplicate."""
    out = {}
    for inc in s.list_all("title[contains]=%s&sort=id" % prefix.replace(" ", "%20")):
        if not inc["title"].startswith(prefix + " "):
            continue
        slot = parse_ts(inc["title"][len(prefix) + 1:])
        if slot in out:
            fail("due time %s created twice: %s and %s" % (iso(slot), out[slot]["number"], inc["number"]))
        out[slot] = inc
    return out


def wait_until(what, cond, timeout=12):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    fail("%s: not within %d s" % (what, timeout))


def consecutive(slots, what):
    for x, y in zip(slots, slots[1:]):
        if y - x != 1:
            fail("%s: %s is followed by %s (expected one every second): %s" % (
                what, iso(x), iso(y), [iso(t) for t in slots]))


def test_jobs_list_and_access(ctx):
    items = jobs(ctx)
    check("sessions.purge" in items, "no sessions.purge job: %r" % sorted(items))
    p = items["sessions.purge"]
    due = parse_ts(p["due_at"])
    check(due % 3600 == 0, "sessions.purge is due on the hour, not at %s" % p["due_at"])
    check(time.time() - 5 < due <= time.time() + 3600 + 5, "sessions.purge due at %s" % p["due_at"])
    check(isinstance(p["runs"], int) and isinstance(p["attempts"], int) and p["runs"] <= p["attempts"],
          "runs and attempts of sessions.purge: %r" % p)
    check(not any(n.startswith("schedule.") for n in items), "schedules without any configured: %r" % sorted(items))
    eq(jobs(ctx, user="audrey"), items, "the jobs as the auditor sees them")
    for u in ("alice", "eve"):
        ctx.get("/admin/jobs", user=u).problem(403)
    ctx.get("/admin/jobs", user=None).problem(401)
    for m in ("POST", "PUT", "DELETE"):
        r = ctx.request(m, "/admin/jobs", body={} if m != "DELETE" else None)
        check(r.status in (404, 405), "%s /admin/jobs -> %s" % (m, r))


def test_schedules_once_per_due_time(ctx):
    """Three schedules of one site: A every second (no catch-up), B every
    second from a start time given with an offset (catch-up), C whose
    records fail validation. Runs, is stopped for 2 s, runs again."""
    def config(start_b):
        return {
            "jobs": {"tick_ms": 100, "lease_ms": 2000},
            "schedules": [
                {"name": "tick-a", "type": "incident", "every": "1s",
                 "fields": {"title": "Check-A {slot}", "description": "due {slot}", "impact": 3, "urgency": 2,
                            "category": "other"}},
                {"name": "tick_b", "type": "incident", "every": "1s", "start": iso(start_b, 9), "catch_up": True,
                 "fields": {"title": "Check-B {slot}", "impact": 2, "urgency": 3}},
                {"name": "broken", "type": "incident", "every": "1s", "catch_up": False,
                 "fields": {"title": "Check-C {slot}", "impact": 9}},
            ]}

    with ctx.new_site("jobs", users=[("alice", "agent", None), ("audrey", "auditor", None)], start=False) as s:
        start_b = int(time.time()) + 2
        s.write_config(**config(start_b))
        t_first = time.time()
        s.start()
        t_ready = time.time()
        wait_until("3 runs of A and 2 of B",
                   lambda: len(scheduled(s, "Check-A")) >= 3 and len(scheduled(s, "Check-B")) >= 2)
        j0 = jobs(s)
        a, b = scheduled(s, "Check-A"), scheduled(s, "Check-B")
        j1 = jobs(s, user="audrey")

        # A: one record per second, created by the system at (not before) its due time.
        slots = sorted(a)
        consecutive(slots, "schedule A")
        check(slots[0] >= int(t_first) - 1,
              "schedule A's first due time %s is before the server started" % iso(slots[0]))
        for t in slots:
            inc = a[t]
            eq((inc["created_by"], inc["updated_by"]), ("system", "system"),
               "%s: created_by, updated_by" % inc["number"])
            eq((inc["description"], inc["impact"], inc["urgency"], inc["category"], inc["state"]),
               ("due " + iso(t), 3, 2, "other", "new"), "%s: fields from the schedule" % inc["number"])
            made = parse_ts(inc["created_at"])
            check(t <= made < t + 3, "%s for %s was created at %s" % (inc["number"], iso(t), inc["created_at"]))
        je = s.journal(a[slots[0]]["id"])
        eq([(e["actor"], e["action"]) for e in je], [("system", "create")], "journal of a scheduled record")
        check("tick-a" in (je[0].get("reason") or "") and iso(slots[0]) in je[0]["reason"],
              "the journal's reason names neither the schedule nor the due time: %r" % je[0].get("reason"))

        # B: from its start time (given in +09:00) on, every second.
        if t_ready < start_b - 0.1:
            eq(min(b), start_b, "schedule B's first due time (start %s)" % iso(start_b, 9))
        else:  # a slow start: the due times before it are not made up for
            check(min(b) >= start_b, "schedule B ran at %s, before its start %s" % (iso(min(b)), iso(start_b, 9)))
        consecutive(sorted(b), "schedule B")
        b_first = min(b)

        # The job list, read before and after the records: runs bracket them.
        ja0, ja1 = j0["schedule.tick-a"], j1["schedule.tick-a"]
        check(ja0["runs"] <= len(a) <= ja1["runs"], "runs of schedule.tick-a (%d, %d) against %d records" % (
            ja0["runs"], ja1["runs"], len(a)))
        check(ja1["runs"] <= ja1["attempts"] <= ja1["runs"] + 1, "schedule.tick-a failed a run: %r" % ja1)
        due = parse_ts(ja1["due_at"])
        check(max(slots) < due <= time.time() + 1.5, "schedule.tick-a due at %s, last run %s" % (
            ja1["due_at"], iso(max(slots))))
        check(ja1.get("last_error") is None, "schedule.tick-a has an error: %r" % ja1)
        check(parse_ts(ja1["last_at"]) >= max(slots), "schedule.tick-a last_at %s" % ja1["last_at"])
        for name in ("schedule.tick-a", "schedule.tick_b", "schedule.broken", "sessions.purge"):
            check(name in j1, "no job %s: %r" % (name, sorted(j1)))

        # C: fails validation, records its error, creates nothing, stops nothing.
        c = j1["schedule.broken"]
        eq(c["runs"], 0, "runs of the broken schedule")
        check(c["attempts"] >= 1, "the broken schedule was never tried: %r" % c)
        check("impact" in (c.get("last_error") or ""), "last_error of the broken schedule: %r" % c)
        check(c.get("last_at"), "the broken schedule has no last_at: %r" % c)
        eq(scheduled(s, "Check-C"), {}, "records of the broken schedule")
        s.incident(user="alice", title="the server still serves")

        # Stopped for 2 s, started again.
        s.stop_ok()
        t_stop = time.time()
        time.sleep(2)
        t_start = time.time()
        s.start()
        wait_until("2 runs of A after the restart",
                   lambda: len([t for t in scheduled(s, "Check-A") if t >= t_start]) >= 2)
        wait_until("B caught up", lambda: max(scheduled(s, "Check-B")) >= t_start + 1)
        a, b = scheduled(s, "Check-A"), scheduled(s, "Check-B")
        before = sorted(t for t in a if parse_ts(a[t]["created_at"]) < t_stop)
        after = sorted(t for t in a if parse_ts(a[t]["created_at"]) >= t_stop)
        consecutive(before, "schedule A before the restart")
        check(before[-1] >= slots[-1], "schedule A lost records")
        for t in after:
            check(parse_ts(a[t]["created_at"]) >= t_start, "%s was created while the server was stopped" % iso(t))
        missed = [t for t in after if t < t_start]
        eq([iso(t) for t in missed], [iso(before[-1] + 1)],
           "schedule A (catch_up false): runs for the due times missed while stopped")
        rest = [t for t in after if t >= t_start]
        consecutive(rest, "schedule A after the restart")
        check(rest[0] <= t_start + 3, "schedule A's first new due time after the restart: %s (started %s)" % (
            iso(rest[0]), iso(int(t_start))))

        # B (catch_up true): every due time since its start exactly once, the
        # missed ones too.
        sb = sorted(b)
        eq(sb[0], b_first, "schedule B's first due time after the restart")
        consecutive(sb, "schedule B (catch_up true) across the restart")
        check(any(t_stop < t < t_start for t in sb), "no due time of B fell into the stop: %s" % [iso(t) for t in sb])

        j2 = jobs(s)
        check(j2["schedule.tick-a"]["runs"] >= len(a), "runs of A after the restart: %r against %d records" % (
            j2["schedule.tick-a"], len(a)))
        c2 = j2["schedule.broken"]
        check(c2["attempts"] > c["attempts"] and c2["runs"] == 0, "the broken schedule after the restart: %r" % c2)
        eq(scheduled(s, "Check-C"), {}, "records of the broken schedule after the restart")
        s.incident(user="alice", title="still serving")

        s.stop_ok()
        p = s.cli("audit", "verify", "--data", s.data)
        eq(p.returncode, 0, "audit verify after scheduled records (%s)" % short((p.stdout + p.stderr).strip()))


GOOD = {"name": "daily-check", "type": "incident", "every": "1d", "fields": {"title": "Daily {slot}"}}


def test_bad_schedules_refused_at_start(ctx):
    """kanri serve refuses a bad schedule (the second of two) before it
    listens, naming config.json, schedules[1] and what is wrong."""
    def bad(**kw):
        d = {"name": "second", "type": "incident", "every": "1h", "fields": {"title": "T {slot}"}}
        for k, v in kw.items():
            if v is None:
                d.pop(k, None)
            else:
                d[k] = v
        return d

    cases = [
        ("an unknown type", [GOOD, bad(type="gizmo")], "type"),
        ("a missing type", [GOOD, bad(type=None)], "type"),
        ("a type given by its plural", [GOOD, bad(type="incidents")], "type"),
        ("every 1x", [GOOD, bad(every="1x")], "every"),
        ("every 0s", [GOOD, bad(every="0s")], "every"),
        ("every -5m", [GOOD, bad(every="-5m")], "every"),
        ("every as a number", [GOOD, bad(every=60)], "every"),
        ("a missing every", [GOOD, bad(every=None)], "every"),
        ("a name with capitals and a space", [GOOD, bad(name="Backup Check")], "name"),
        ("an empty name", [GOOD, bad(name="")], "name"),
        ("a missing name", [GOOD, bad(name=None)], "name"),
        ("a name of 49 letters", [GOOD, bad(name="x" * 49)], "name"),
        ("a name used twice", [GOOD, bad(name="daily-check")], "name"),
        ("fields as a string", [GOOD, bad(fields="title")], "fields"),
        ("fields as a list", [GOOD, bad(fields=[{"title": "x"}])], "fields"),
        ("missing fields", [GOOD, bad(fields=None)], "fields"),
        ("catch_up as a string", [GOOD, bad(catch_up="yes")], "catch_up"),
        ("a start without a zone", [GOOD, bad(start="2026-01-01T00:00:00")], "start"),
        ("a start that is no time", [GOOD, bad(start="tomorrow")], "start"),
        ("a schedule that is not an object", [GOOD, 42], None),
    ]
    with ctx.new_site("badsched", start=False) as s:
        path = os.path.join(s.data, "config.json")
        base = {}  # the site's own config ("store" on PostgreSQL)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                base = json.load(f)

        def write(**keys):
            with open(path, "w", encoding="utf-8") as f:
                json.dump(dict(base, **keys), f)

        port = free_port()
        for what, schedules, key in cases:
            write(schedules=schedules)
            p = s.cli("serve", "--data", s.data, "--listen", "127.0.0.1:%d" % port, timeout=15)
            check(p.returncode != 0, "kanri serve started with %s" % what)
            check("listening" not in p.stdout, "kanri serve listened with %s: %r" % (what, p.stdout))
            msg = p.stderr
            check("config.json" in msg and "schedules[1]" in msg,
                  "%s: the message names neither config.json nor schedules[1]: %r" % (what, short(msg)))
            if key:
                check(re.search(r"schedules\[1\][ .]?%s\b" % re.escape(key), msg) or
                      re.search(r"\b%s\b" % re.escape(key), msg.split("schedules[1]", 1)[1]),
                      "%s: the message does not name %s: %r" % (what, key, short(msg)))
        for what, cfg, words in [
                ("schedules that are not a list", {"schedules": GOOD}, ["config.json", "schedules"]),
                ("a tick of 0 ms", {"jobs": {"tick_ms": 0}}, ["config.json", "tick_ms"]),
                ("a lease as a string", {"jobs": {"lease_ms": "1m"}}, ["config.json", "lease_ms"])]:
            write(**cfg)
            p = s.cli("serve", "--data", s.data, "--listen", "127.0.0.1:%d" % port, timeout=15)
            check(p.returncode != 0, "kanri serve started with %s" % what)
            for w in words:
                check(w in p.stderr, "%s: the message does not name %s: %r" % (what, w, short(p.stderr)))
        # Fixed, it starts; nothing was created by the refused starts.
        write(schedules=[GOOD])
        s.start()
        eq(s.total(), 0, "incidents after the refused starts")
        names = sorted(jobs(s))
        eq(names, ["rules.timers", "schedule.daily-check", "sessions.purge"], "jobs")
        due = parse_ts(jobs(s)["schedule.daily-check"]["due_at"])
        check(due % 86400 == 0 and time.time() < due <= time.time() + 86400,
              "a daily schedule without start is due at the next midnight UTC, not %s" % iso(due))
