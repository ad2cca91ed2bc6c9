# SPDX-License-Identifier: Apache-2.0
"""Incident records: create, read, conditional requests, update, validation,
request-level errors and exact storage of text."""

import re
import threading
from urllib.parse import urlsplit

from harness import API, check, eq, etag_of, raw_request, unique

FIELDS = ("title", "description", "caller", "organisation", "category", "impact", "urgency",
          "priority", "assignment_group", "assignee", "hold_reason", "resolution_code",
          "resolution_notes", "resolved_at", "closed_at")
SYSTEM = ("id", "number", "type", "version", "state", "created_at", "updated_at",
          "created_by", "updated_by")
MATRIX = [[1, 2, 3], [2, 3, 4], [3, 4, 5]]
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def num(n):
    return int(n.split("-")[1])


def test_create_incident(ctx):
    body = {"title": "Mail is down", "impact": 1, "urgency": 2, "category": "software",
            "description": "Nobody can send mail since 09:00"}
    r = ctx.post("/incidents", body, user="alice").expect(201)
    eq(r.ctype, "application/json", "content type")
    inc = r.json
    for k in SYSTEM + FIELDS:
        check(k in inc, "record lacks %r: %s" % (k, r))
    check(isinstance(inc["id"], int) and inc["id"] > 0, "id: %r" % inc["id"])
    check(re.match(r"^INC-\d{6}$", inc["number"]), "number format INC-000000: %r" % inc["number"])
    eq(inc["type"], "incident", "type")
    eq(inc["version"], 1, "version")
    eq(inc["state"], "new", "state")
    eq(inc["title"], "Mail is down", "title")
    eq(inc["priority"], 2, "priority of impact 1, urgency 2")
    eq(inc["created_by"], "alice", "created_by")
    for k in ("assignee", "hold_reason", "resolution_code", "resolved_at", "closed_at"):
        eq(inc[k], None, "empty field %s" % k)
    check(ISO_UTC.match(inc["created_at"] or ""), "created_at is ISO 8601 UTC: %r" % inc["created_at"])
    eq(r.header("ETag"), etag_of(1), "ETag")
    loc = r.header("Location")
    check(loc, "no Location header")
    path = urlsplit(loc).path
    check(path.startswith(API + "/incidents/"), "Location %r is not below /api/v1/incidents/" % loc)
    got = ctx.get(path, user="alice").expect(200).json
    eq(got["id"], inc["id"], "record at Location")


def test_create_defaults(ctx):
    inc = ctx.incident(user="alice", title="only a title")
    eq(inc["impact"], 3, "default impact")
    eq(inc["urgency"], 3, "default urgency")
    eq(inc["priority"], 5, "priority of the defaults")


def test_failed_creates_write_nothing(ctx):
    a = ctx.incident(title="numbering a")
    ctx.post("/incidents", {"title": "x" * 201}).problem(422, "title")
    ctx.post("/incidents", {"impact": 1}).problem(422, "title")
    ctx.post("/incidents", {"title": "bad enum", "category": "bogus"}).problem(422, "category")
    ctx.request("POST", "/incidents", data=b"{").problem(400)
    b = ctx.incident(title="numbering b")
    eq(num(b["number"]), num(a["number"]) + 1, "number after failed creates (%s, %s)" % (a["number"], b["number"]))
    # The journal's sequence is gap-free and global: no entry was written in between.
    sa, sb = ctx.journal(a["id"])[0]["seq"], ctx.journal(b["id"])[0]["seq"]
    eq(sb, sa + 1, "journal seq of the next create after failed creates")


def test_priority_matrix_all_nine(ctx):
    for i in (1, 2, 3):
        for u in (1, 2, 3):
            inc = ctx.incident(title="matrix %d %d" % (i, u), impact=i, urgency=u)
            eq(inc["priority"], MATRIX[i - 1][u - 1], "priority for impact %d urgency %d" % (i, u))


def test_get_by_id_and_number(ctx):
    inc = ctx.incident(title="find me")
    a = ctx.get("/incidents/%d" % inc["id"], user="audrey").expect(200)
    b = ctx.get("/incidents/%s" % inc["number"], user="audrey").expect(200)
    eq(a.json, b.json, "by id and by number")
    eq(a.json["title"], "find me", "title")
    eq(a.header("ETag"), etag_of(inc["version"]), "ETag")
    ctx.get("/incidents/999999999").problem(404)
    ctx.get("/incidents/INC-999999").problem(404)
    ctx.get("/incidents/GRP-0001").expect(404, 400)
    ctx.get("/incidents/abc").expect(404, 400)


def test_if_none_match_304(ctx):
    inc = ctx.incident(title="cache me")
    path = "/incidents/%d" % inc["id"]
    r = ctx.get(path, headers={"If-None-Match": etag_of(inc["version"])})
    eq(r.status, 304, "status with a current If-None-Match")
    eq(r.body, b"", "body of a 304")
    r = ctx.get(path, headers={"If-None-Match": '"999"'}).expect(200)
    eq(r.json["id"], inc["id"], "id")
    ctx.patch(path, {"urgency": 1}, version=inc["version"]).expect(200)
    r = ctx.get(path, headers={"If-None-Match": etag_of(inc["version"])})
    eq(r.status, 200, "status with a stale If-None-Match")
    eq(r.header("ETag"), etag_of(inc["version"] + 1), "new ETag")


def test_patch_with_if_match(ctx):
    inc = ctx.incident(title="patch me", impact=3, urgency=3)
    path = "/incidents/%d" % inc["id"]
    r = ctx.patch(path, {"impact": 1, "description": "more detail"}, version=1, user="alice").expect(200)
    j = r.json
    eq(j["version"], 2, "version after PATCH")
    eq(j["impact"], 1, "impact")
    eq(j["description"], "more detail", "description")
    eq(j["priority"], 3, "priority recomputed for impact 1 urgency 3")
    eq(j["title"], "patch me", "untouched title")
    eq(j["updated_by"], "alice", "updated_by")
    check(j["updated_at"] >= inc["updated_at"], "updated_at moved back")
    eq(r.header("ETag"), etag_of(2), "ETag after PATCH")
    got = ctx.record(inc["id"])
    eq(got, j, "stored record equals the PATCH answer")
    # "version" in the body instead of If-Match.
    r = ctx.patch(path, {"urgency": 1, "version": 2}).expect(200)
    eq(r.json["version"], 3, "version after PATCH with body version")
    eq(r.json["priority"], 1, "priority for impact 1 urgency 1")
    # A field can be emptied.
    r = ctx.patch(path, {"description": None}, version=3).expect(200)
    eq(r.json["description"], None, "emptied description")


def test_patch_stale_409(ctx):
    inc = ctx.incident(title="stale")
    path = "/incidents/%d" % inc["id"]
    ctx.patch(path, {"title": "first"}, version=1).expect(200)
    before = ctx.record(inc["id"])
    jn = len(ctx.journal(inc["id"]))
    ctx.patch(path, {"title": "second"}, version=1).problem(409)
    ctx.patch(path, {"title": "second", "version": 1}).problem(409)
    after = ctx.record(inc["id"])
    eq(after, before, "record after a stale PATCH")
    eq(len(ctx.journal(inc["id"])), jn, "journal length after a stale PATCH")


def test_patch_without_if_match_428(ctx):
    inc = ctx.incident(title="unconditional")
    ctx.patch("/incidents/%d" % inc["id"], {"title": "changed"}).problem(428)
    eq(ctx.record(inc["id"])["title"], "unconditional", "title")


def test_patch_readonly_fields_422(ctx):
    inc = ctx.incident(title="read-only fields")
    path = "/incidents/%d" % inc["id"]
    jn = len(ctx.journal(inc["id"]))
    for body, field in (({"priority": 1}, "priority"), ({"state": "closed"}, "state"),
                        ({"resolved_at": "2026-01-01T00:00:00Z"}, "resolved_at"),
                        ({"x_no_such_field": 1}, "x_no_such_field"),
                        ({"title": "ok", "bogus": 1}, "bogus"),
                        ({"number": "INC-999999"}, "number"), ({"id": 5}, "id"),
                        ({"created_by": "mallory"}, "created_by")):
        ctx.patch(path, body, version=1).problem(422, field)
    eq(ctx.record(inc["id"])["version"], 1, "version after refused PATCHes")
    eq(ctx.record(inc["id"])["title"], "read-only fields", "title after refused PATCHes")
    eq(len(ctx.journal(inc["id"])), jn, "journal after refused PATCHes")


def test_create_validation_422(ctx):
    total = ctx.total()
    cases = [
        ({"title": "bad enum", "category": "bogus"}, "category"),
        ({"title": "wrong type", "impact": "high"}, "impact"),
        ({"title": "number as text", "impact": "1"}, "impact"),
        ({"title": "too big", "impact": 4}, "impact"),
        ({"title": "too small", "urgency": 0}, "urgency"),
        ({"title": "fraction", "urgency": 1.5}, "urgency"),
        ({"title": "bool", "impact": True}, "impact"),
        ({"impact": 1}, "title"),
        ({"title": None}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "あ" * 201}, "title"),
        ({"title": 42}, "title"),
        ({"title": ["a"]}, "title"),
        ({"title": "unknown field", "colour": "red"}, "colour"),
        ({"title": "computed", "priority": 1}, "priority"),
        ({"title": "state", "state": "closed"}, "state"),
        ({"title": "readonly", "closed_at": "2026-01-01T00:00:00Z"}, "closed_at"),
        ({"title": "no such group", "assignment_group": "no-such-group"}, "assignment_group"),
        ({"title": "no such user", "assignee": "nobody"}, "assignee"),
        ({"title": "no such caller", "caller": "nobody"}, "caller"),
        ({"title": "text too long", "organisation": "o" * 101}, "organisation"),
    ]
    for body, field in cases:
        ctx.post("/incidents", body, user="alice").problem(422, field)
    eq(ctx.total(), total, "incident total after refused creates")


def test_title_length_in_code_points(ctx):
    inc = ctx.incident(title="x" * 200)
    eq(len(inc["title"]), 200, "200 ASCII letters")
    inc = ctx.incident(title="あ" * 200)
    eq(inc["title"], "あ" * 200, "200 Japanese letters (600 bytes)")
    inc = ctx.incident(title="😀" * 200)
    eq(inc["title"], "😀" * 200, "200 emoji (800 bytes)")
    ctx.post("/incidents", {"title": "😀" * 201}).problem(422, "title")


def test_malformed_json_400(ctx):
    total = ctx.total()
    for data in (b"{", b"{\"title\": }", b"not json", b"{\"title\": \"a\",}",
                 b"{\"title\": \"a\"} trailing", b"\xff\xfe{}"):
        ctx.request("POST", "/incidents", data=data).problem(400)
    for data in (b"[]", b"[{\"title\": \"a\"}]", b"\"title\"", b"42", b"null"):
        ctx.request("POST", "/incidents", data=data).problem(400)
    ctx.request("POST", "/incidents", data=b"").expect(400, 422)
    inc = ctx.incident(title="malformed patch")
    ctx.request("PATCH", "/incidents/%d" % inc["id"], data=b"{oops",
                headers={"If-Match": etag_of(1)}).problem(400)
    ctx.request("PATCH", "/incidents/%d" % inc["id"], data=b"[1]",
                headers={"If-Match": etag_of(1)}).problem(400)
    eq(ctx.total(), total + 1, "incidents after malformed bodies")
    eq(ctx.record(inc["id"])["version"], 1, "version after malformed PATCH")


def test_invalid_utf8_or_nul_rejected(ctx):
    total = ctx.total()
    ctx.request("POST", "/incidents", data=b'{"title": "bad \xc3\x28 utf8"}').expect(400, 422)
    ctx.request("POST", "/incidents", data=b'{"title": "nul \\u0000 inside"}').expect(400, 422)
    ctx.request("POST", "/incidents", data=b'{"title": "lone \\ud800 surrogate"}').expect(400, 422)
    eq(ctx.total(), total, "incidents after invalid text")


def test_content_type_415(ctx):
    total = ctx.total()
    body = b'{"title": "typed"}'
    for ct in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        ctx.request("POST", "/incidents", data=body, ctype=ct).problem(415)
    ctx.request("POST", "/incidents", data=body, ctype=None).expect(415, 400)
    eq(ctx.total(), total, "incidents after refused content types")
    ctx.request("POST", "/incidents", data=body, ctype="application/json; charset=utf-8").expect(201)
    ctx.request("POST", "/incidents", data=body, ctype="Application/JSON").expect(201)


def test_body_over_limit_413(ctx):
    total = ctx.total()
    limit = 1024 * 1024
    big = b'{"title": "big", "description": "' + b"a" * limit + b'"}'
    head = ("POST %s/incidents HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
            % (API, ctx.tokens["alice"], len(big))).encode()
    r = raw_request(ctx.port, head, [big[i:i + 65536] for i in range(0, len(big), 65536)])
    r.problem(413)
    eq(ctx.total(), total, "incidents after a body over the limit")
    # A large body under the limit is fine.
    ok = b'{"title": "under the limit", "description": "' + b"b" * 60000 + b'"}'
    ctx.request("POST", "/incidents", data=ok, user="alice").expect(201)


def test_body_over_limit_chunked_413(ctx):
    total = ctx.total()
    head = ("POST %s/incidents HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            % (API, ctx.tokens["alice"])).encode()
    payload = b'{"title": "chunked", "description": "' + b"c" * (1024 * 1024 + 10) + b'"}'
    chunks = []
    for i in range(0, len(payload), 65536):
        part = payload[i:i + 65536]
        chunks.append(b"%x\r\n" % len(part) + part + b"\r\n")
    chunks.append(b"0\r\n\r\n")
    r = raw_request(ctx.port, head, chunks)
    r.problem(413)
    eq(ctx.total(), total, "incidents after a chunked body over the limit")


TRICKY = ("<script>alert('x')</script> & \"double\" 'single' `back` \\ slash "
          "'; DROP TABLE rec_incident; -- %s %n {{x}} ${x} "
          "日本語の件名 ｻｰﾊﾞ ＡＢＣ 😀👍🏽 \u00e9\u0301")
MULTILINE = "line 1\nline 2\r\nline 3\n\n\ttabbed\u3000全角スペース\n<b>bold</b>\n"


def test_text_stored_exactly(ctx):
    inc = ctx.incident(title=TRICKY, description=MULTILINE, organisation="Ünïcode & Co.")
    eq(inc["title"], TRICKY, "title in POST answer")
    eq(inc["description"], MULTILINE, "description in POST answer")
    got = ctx.record(inc["number"])
    eq(got["title"], TRICKY, "title as stored")
    eq(got["description"], MULTILINE, "description as stored")
    eq(got["organisation"], "Ünïcode & Co.", "organisation as stored")
    # The same text sent \u-escaped.
    r = ctx.post("/incidents", {"title": TRICKY, "description": MULTILINE}, ascii=True).expect(201)
    eq(r.json["title"], TRICKY, "title sent as \\u escapes")
    eq(ctx.record(r.json["id"])["description"], MULTILINE, "description sent as \\u escapes")
    # In lists too, and the SQL-looking text did nothing.
    items = ctx.list_all("id=%d" % inc["id"])
    eq([i["title"] for i in items], [TRICKY], "title in the list")
    ctx.get("/incidents?limit=1").expect(200)


def test_text_in_patch_and_journal(ctx):
    inc = ctx.incident(title="plain")
    r = ctx.patch("/incidents/%d" % inc["id"], {"title": TRICKY, "reason": MULTILINE}, version=1).expect(200)
    eq(r.json["title"], TRICKY, "patched title")
    entries = ctx.journal(inc["id"])
    last = entries[-1]
    eq(last.get("reason"), MULTILINE, "reason in the journal")
    from harness import change_of
    eq(change_of(last, "title"), ("plain", TRICKY), "title change in the journal")


def test_concurrent_patches_one_wins(ctx):
    inc = ctx.incident(title="race")
    path = "/incidents/%d" % inc["id"]
    results = []
    lock = threading.Lock()

    def worker(i):
        r = ctx.patch(path, {"title": "writer %d" % i}, version=1, user="alice")
        with lock:
            results.append((i, r.status))

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(10)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    codes = sorted(s for _, s in results)
    eq(len(codes), 10, "answers")
    eq(codes.count(200), 1, "PATCHes that won (codes %r)" % codes)
    eq(codes.count(409), 9, "PATCHes refused as stale (codes %r)" % codes)
    winner = [i for i, s in results if s == 200][0]
    got = ctx.record(inc["id"])
    eq(got["version"], 2, "version")
    eq(got["title"], "writer %d" % winner, "title")
    eq(len(ctx.journal(inc["id"])), 2, "journal entries (create + one update)")


def test_concurrent_creates_numbered(ctx):
    tag = unique("cc")
    results = []
    lock = threading.Lock()

    def worker(i):
        r = ctx.post("/incidents", {"title": "%s %d" % (tag, i)}, user="alice")
        with lock:
            results.append(r)

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    bad = [str(r) for r in results if r.status != 201]
    check(not bad, "concurrent creates failed: %s" % bad[:3])
    nums = sorted(num(r.json["number"]) for r in results)
    eq(nums, list(range(nums[0], nums[0] + 16)), "numbers of 16 concurrent creates")
    eq(len({r.json["id"] for r in results}), 16, "distinct ids")
