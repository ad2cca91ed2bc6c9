# SPDX-License-Identifier: Apache-2.0
"""File attachments of records: upload (the raw body), list, download byte
for byte with safe headers, the journal entry, refusals (empty files, bad
names, bodies over the limit), who may attach and who may read them."""

import hashlib
import urllib.parse

from harness import check, eq, unique

JA_NAME = "障害報告 第1版.pdf"
BLOB = b"%PDF-1.4\n\x00\x01\x02\xff\xfe binary \x00\x00 tail\r\n" + bytes(range(256))

META_KEYS = {"id", "name", "ctype", "size", "sha256", "created_by", "created_at"}


def upload(s, ref, name, data, user="alice", ctype="application/pdf", plural="incidents", **kw):
    q = "" if name is None else "?name=" + urllib.parse.quote(name, safe="")
    return s.request("POST", "/%s/%s/attachments%s" % (plural, ref, q), data=data, ctype=ctype,
                     user=user, **kw)


def test_upload_list_download(ctx):
    inc = ctx.incident(user="alice", title=unique("att"))
    r = upload(ctx, inc["id"], JA_NAME, BLOB).expect(201)
    meta = r.json
    eq(set(meta), META_KEYS, "attachment metadata keys")
    eq((meta["name"], meta["ctype"], meta["size"], meta["sha256"], meta["created_by"]),
       (JA_NAME, "application/pdf", len(BLOB), hashlib.sha256(BLOB).hexdigest(), "alice"), "metadata")

    # by number too, and a second one without a content type given
    r = upload(ctx, inc["number"], "notes.txt", b"plain", ctype=None).expect(201)
    eq(r.json["ctype"], "application/octet-stream", "default content type")

    items = ctx.get("/incidents/%d/attachments" % inc["id"]).expect(200).json["items"]
    eq([i["name"] for i in items], [JA_NAME, "notes.txt"], "listed attachments (oldest first)")
    eq(items[0], meta, "listed metadata against the upload's answer")
    check(all("data" not in i for i in items), "the list carries no bytes")

    d = ctx.get("/incidents/%s/attachments/%d" % (inc["number"], meta["id"])).expect(200)
    eq(d.body, BLOB, "downloaded bytes")
    eq(d.ctype, "application/pdf", "download content type")
    eq(d.header("Content-Disposition"),
       "attachment; filename*=UTF-8''" + urllib.parse.quote(JA_NAME, safe=""), "Content-Disposition")
    eq(d.header("X-Content-Type-Options"), "nosniff", "X-Content-Type-Options")
    eq(d.header("Content-Security-Policy"), "sandbox", "Content-Security-Policy")
    eq(d.header("ETag"), '"%s"' % meta["sha256"], "ETag")

    # not this record's attachment, not a number, none such
    other = ctx.incident(user="alice", title=unique("att-other"))
    ctx.get("/incidents/%d/attachments/%d" % (other["id"], meta["id"])).problem(404)
    ctx.get("/incidents/%d/attachments/x1" % inc["id"]).problem(404)
    ctx.get("/incidents/%d/attachments/99999999" % inc["id"]).problem(404)
    eq(ctx.get("/incidents/%d/attachments" % other["id"]).expect(200).json["items"], [], "no attachments")


def test_journal_entry(ctx):
    inc = ctx.incident(user="alice", title=unique("att-j"))
    meta = upload(ctx, inc["id"], "trace.bin", BLOB, ctype="application/octet-stream").expect(201).json
    entries = [e for e in ctx.journal(inc["id"]) if e["action"] == "attach"]
    eq(len(entries), 1, "attach journal entries")
    e = entries[0]
    eq(e["actor"], "alice", "actor")
    ch = e["changes"][0]
    eq((ch["field"], ch["new"], ch["attachment"], ch["size"], ch["sha256"]),
       ("attachment", "trace.bin", meta["id"], len(BLOB), meta["sha256"]), "the change")
    ctx.cli_ok("audit", "verify", "--data", ctx.data)


def test_refusals(ctx):
    inc = ctx.incident(user="alice", title=unique("att-bad"))
    upload(ctx, inc["id"], "empty.txt", b"").problem(422)
    for name in (None, "", "a/b.txt", "..\\x.txt", "..", ".", "tab\there", "nl\nx", "x" * 256,
                 "c1\u0085x"):
        upload(ctx, inc["id"], name, b"data").problem(422)
    upload(ctx, inc["id"], "ok.txt", b"data", ctype="not a type").problem(422)
    upload(ctx, inc["id"], "ok.txt", b"data", ctype="text/").problem(422)
    upload(ctx, inc["id"], "あ" * 255, b"data", ctype="text/plain; charset=utf-8").expect(201)
    upload(ctx, "INC-999999", "ok.txt", b"data").problem(404)
    names = [i["name"] for i in ctx.get("/incidents/%d/attachments" % inc["id"]).expect(200).json["items"]]
    eq(names, ["あ" * 255], "only the good one was stored")


def test_body_limit(ctx):
    users = [("alice", "agent", None)]
    with ctx.new_site("att-limit", users=users, config={"body_limit": 4096}) as s:
        inc = s.incident(user="alice", title="limits")
        upload(s, inc["id"], "big.bin", b"\x00" * 5000, user="alice").problem(413)
        upload(s, inc["id"], "fits.bin", b"\x00" * 4000, user="alice").expect(201)
        eq(len(s.get("/incidents/%d/attachments" % inc["id"]).expect(200).json["items"]), 1,
           "attachments after a refused one")


def test_enduser_and_auditor(ctx):
    tag = unique("att-org")
    mine = ctx.incident(user="eve", title=tag + " acme")
    theirs = ctx.incident(user="mallory", title=tag + " globex")
    meta = upload(ctx, mine["id"], "screen.png", b"\x89PNG\r\n\x1a\n\x00", user="eve", ctype="image/png").expect(201).json
    eq(meta["created_by"], "eve", "created_by")
    # eve: another organisation's incident is not there for her
    r = upload(ctx, theirs["id"], "x.txt", b"secret", user="eve")
    r.problem(404)
    ctx.get("/incidents/%d/attachments" % theirs["id"], user="eve").problem(404)
    m2 = upload(ctx, theirs["id"], "globex.txt", b"globex only", user="mallory", ctype="text/plain").expect(201).json
    r = ctx.get("/incidents/%d/attachments/%d" % (theirs["id"], m2["id"]), user="eve")
    r.problem(404)
    check(b"globex only" not in r.body, "globex bytes leaked to eve")
    # erin, of acme too, reads eve's
    eq(ctx.get("/incidents/%d/attachments/%d" % (mine["id"], meta["id"]), user="erin").expect(200).body,
       b"\x89PNG\r\n\x1a\n\x00", "erin's download")
    # the auditor reads but never writes
    upload(ctx, mine["id"], "audit.txt", b"no", user="audrey").problem(403)
    eq(ctx.get("/incidents/%d/attachments" % mine["id"], user="audrey").expect(200).json["items"], [meta],
       "the auditor's list")
    eq(ctx.get("/incidents/%d/attachments/%d" % (mine["id"], meta["id"]), user="audrey").expect(200).body,
       b"\x89PNG\r\n\x1a\n\x00", "the auditor's download")


def test_cookie_session_needs_csrf(ctx):
    inc = ctx.incident(user="alice", title=unique("att-csrf"))
    r = ctx.post("/session", {"name": "alice", "password": ctx.passwords["alice"]}, user=None).expect(200)
    cookie = (r.header("Set-Cookie") or "").split(";")[0]
    csrf = r.json["csrf"]
    upload(ctx, inc["id"], "c.txt", b"x", user=None, headers={"Cookie": cookie}).problem(403)
    upload(ctx, inc["id"], "c.txt", b"x", user=None,
           headers={"Cookie": cookie, "X-CSRF-Token": csrf}).expect(201)
    eq([i["name"] for i in ctx.get("/incidents/%d/attachments" % inc["id"]).expect(200).json["items"]],
       ["c.txt"], "attachments after the CSRF refusal")


def test_not_found_and_unknown_type(ctx):
    ctx.get("/incidents/INC-999999/attachments").problem(404)
    upload(ctx, "1", "x.txt", b"x", plural="nosuchtypes").problem(404)
