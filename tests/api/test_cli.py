# SPDX-License-Identifier: Apache-2.0
"""The command line: audit verify against tampering, init, import, errors."""

import json
import os
import re

from harness import ADMIN, ADMIN_PASSWORD, check, eq, fail, free_port


def verify(s, data):
    p = s.cli("audit", "verify", "--data", data)
    return p.returncode, p.stdout + p.stderr


def tampered(s, name, sql_fn):
    """A copy of s's (stopped) data folder, with a copy of its database (SQLite
    file or PostgreSQL database), altered by sql_fn(store)."""
    d = s.copy_data(name)
    st = s.store(d)
    # Whoever can write the database can drop guarding triggers too.
    st.drop_guards()
    sql_fn(st)
    return d


def columns(st, table):
    cols = st.columns(table)
    check(cols, "no table %s in the %s database" % (table, st.backend))
    return cols


def journal_key(st):
    cols = columns(st, "journal")
    for k in ("seq", "id"):
        if k in cols:
            return k, cols
    fail("journal has no seq column: %r" % cols)


def qi(name):
    """A quoted SQL identifier (the same on SQLite and PostgreSQL)."""
    return '"%s"' % name.replace('"', '""')


def test_audit_verify(ctx):
    with ctx.new_site("audit") as s:
        a = s.incident(user=ADMIN, title="audited record", impact=2)
        s.patch("/incidents/%d" % a["id"], {"impact": 1, "reason": "escalation"}, version=1).expect(200)
        s.transition(a["id"], "in_progress", user=ADMIN).expect(200)
        s.post("/incidents/%d/comments" % a["id"], {"body": "hello", "kind": "comment"}).expect(201)
        b = s.incident(user=ADMIN, title="second record")
        s.patch("/incidents/%d" % b["id"], {"urgency": 1}, version=1).expect(200)
        ja = s.journal(a["id"])
        jb = s.journal(b["id"])
        s.stop_ok()

        rc, out = verify(s, s.data)
        eq(rc, 0, "audit verify on an intact folder (%s)" % out.strip()[-300:])

        # 1. A journal entry altered (the reason of a's update).
        seq = ja[1]["seq"]

        def alter_entry(st):
            k, cols = journal_key(st)
            col = "reason" if "reason" in cols else "actor"
            n = len(st.sql("UPDATE journal SET %s = 'forged' WHERE %s = ? RETURNING 1" % (col, k), (seq,)))
            eq(n, 1, "journal rows altered")
        rc, out = verify(s, tampered(s, "entry", alter_entry))
        check(rc != 0, "audit verify passed a folder with an altered journal entry")
        check(re.search(r"\b%d\b" % seq, out), "audit verify does not name entry %d: %r" % (seq, out[-500:]))

        # 2. An entry's actor changed (who did it matters most).
        def alter_actor(st):
            k, cols = journal_key(st)
            check("actor" in cols, "journal has no actor column: %r" % cols)
            st.sql("UPDATE journal SET actor = 'mallory' WHERE %s = ?" % k, (jb[1]["seq"],))
        rc, out = verify(s, tampered(s, "actor", alter_actor))
        check(rc != 0, "audit verify passed a folder with a forged actor")
        check(re.search(r"\b%d\b" % jb[1]["seq"], out),
              "audit verify does not name entry %d: %r" % (jb[1]["seq"], out[-500:]))

        # 3. An entry deleted from the middle of the chain.
        def drop_entry(st):
            k, _ = journal_key(st)
            st.sql("DELETE FROM journal WHERE %s = ?" % k, (seq,))
        rc, out = verify(s, tampered(s, "gap", drop_entry))
        check(rc != 0, "audit verify passed a folder with a deleted journal entry")
        check(re.search(r"\b(%d|%d)\b" % (seq, seq + 1), out),
              "audit verify does not name entry %d: %r" % (seq, out[-500:]))

        # 4. A record row altered behind the journal's back.
        def alter_record(st):
            n = len(st.sql("UPDATE rec_incident SET title = 'forged title' WHERE id = ? RETURNING 1", (b["id"],)))
            eq(n, 1, "record rows altered")
        rc, out = verify(s, tampered(s, "record", alter_record))
        check(rc != 0, "audit verify passed a folder with an altered record row")
        named = (b["number"] in out or re.search(r"\b%d\b" % jb[-1]["seq"], out)
                 or re.search(r"incident\D{0,12}\b%d\b" % b["id"], out))
        check(named, "audit verify does not name %s (or its entry %d): %r" % (b["number"], jb[-1]["seq"], out[-500:]))

        # 5. A record row inserted without any journal entry.
        def insert_record(st):
            # A copy of a's row as record 4242 (INC-004242).
            cols = columns(st, "rec_incident")
            vals = {"id": "4242", "number": "'INC-004242'"}
            n = len(st.sql("INSERT INTO rec_incident (%s) %s SELECT %s FROM rec_incident WHERE id = ? RETURNING 1" % (
                ",".join(map(qi, cols)), "OVERRIDING SYSTEM VALUE" if st.backend == "postgres" else "",
                ",".join(vals.get(c, qi(c)) for c in cols)), (a["id"],)))
            eq(n, 1, "record rows inserted")
        rc, out = verify(s, tampered(s, "insert", insert_record))
        check(rc != 0, "audit verify passed a folder with a record that has no journal")

        # The original folder is still intact.
        rc, out = verify(s, s.data)
        eq(rc, 0, "audit verify on the untouched folder (%s)" % out.strip()[-300:])


def test_init_refuses_existing_folder(ctx):
    with ctx.new_site("reinit", start=False) as s:
        st = s.store()
        before = st.fingerprint()
        p = s.cli("init", "--data", s.data, *s.store_args(), env={"KANRI_ADMIN_PASSWORD": "another-password-123"})
        check(p.returncode != 0, "kanri init overwrote an existing data folder")
        check(p.stderr.strip(), "kanri init failed without a message on stderr")
        eq(st.fingerprint(), before, "the %s database after a refused init" % st.backend)
        s.start()
        s.get("/incidents").expect(200)
        s.post("/session", {"name": ADMIN, "password": ADMIN_PASSWORD}, user=None).expect(200)
        s.post("/session", {"name": ADMIN, "password": "another-password-123"}, user=None).problem(401)
    # A folder holding something else is not taken over either.
    with ctx.new_site("initfull", init=False, start=False) as s:
        os.makedirs(s.data)
        keep = os.path.join(s.data, "precious.txt")
        with open(keep, "w") as f:
            f.write("do not touch")
        p = s.cli("init", "--data", s.data, *s.store_args(), env={"KANRI_ADMIN_PASSWORD": ADMIN_PASSWORD})
        check(p.returncode != 0, "kanri init took over a folder that is not empty")
        check(p.stderr.strip(), "no message on stderr")
        eq(open(keep).read(), "do not touch", "file in the folder")
        eq(sorted(os.listdir(s.data)), ["precious.txt"], "folder contents after a refused init")
        if s.pg:
            eq(s.store().tables(), [], "tables in the (empty) database after a refused init")


def test_cli_errors(ctx):
    with ctx.new_site("clierr", start=False) as s:
        missing = os.path.join(s.dir, "no-such-folder")
        port = "127.0.0.1:%d" % free_port()
        cases = [
            [],
            ["bogus"],
            ["serve"],
            ["serve", "--listen", port],
            ["serve", "--data", missing, "--listen", port],
            ["init"],
            ["audit", "verify"],
            ["audit", "verify", "--data", missing],
            ["audit", "bogus", "--data", s.data],
            ["user", "add", "--data", s.data, "--name", "x1", "--role", "wizard"],
            ["user", "add", "--data", s.data, "--role", "agent"],
            ["user", "add", "--data", s.data, "--name", ADMIN, "--role", "agent"],
            ["token", "create", "--data", s.data, "--user", "nobody"],
            ["token", "create", "--data", s.data],
            ["import", "--data", s.data, "--type", "nosuchtype", os.path.join(s.dir, "none.jsonl")],
            ["import", "--data", s.data, "--type", "incidents", os.path.join(s.dir, "none.jsonl")],
            ["serve", "--data", s.data, "--bogus-option"],
        ]
        for args in cases:
            p = s.cli(*args, env={"KANRI_PASSWORD": "Pw-x1-0123456789"}, timeout=20)
            check(p.returncode != 0, "kanri %s exited 0" % " ".join(args))
            check(p.stderr.strip(), "kanri %s: no message on stderr" % " ".join(args))
        check(not os.path.exists(missing), "a command created the missing data folder")


def test_import_jsonl(ctx):
    lines = [
        {"title": "imported one", "impact": 1, "urgency": 1, "category": "network"},
        {"title": "取り込み 二", "description": "line\nbreak"},
        {"title": "imported three", "state": "resolved", "resolution_code": "fixed",
         "resolution_notes": "fixed before the import"},
    ]
    with ctx.new_site("import", start=False) as s:
        path = os.path.join(s.dir, "in.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for ln in lines:
                f.write(json.dumps(ln, ensure_ascii=False) + "\n")
        s.cli_ok("import", "--data", s.data, "--type", "incidents", path)
        # From standard input too.
        s.cli_ok("import", "--data", s.data, "--type", "incidents",
                 input=json.dumps({"title": "from stdin"}) + "\n")
        s.start()
        items = s.list_all("sort=id")
        eq([i["title"] for i in items], ["imported one", "取り込み 二", "imported three", "from stdin"], "titles")
        eq([i["number"] for i in items], ["INC-000001", "INC-000002", "INC-000003", "INC-000004"], "numbers")
        eq(items[0]["priority"], 1, "computed priority on import")
        eq(items[1]["description"], "line\nbreak", "text on import")
        eq(items[2]["state"], "resolved", "state on import")
        check(s.journal(items[0]["id"]), "imported record has no journal entry")
        s.stop_ok()
        # A bad line stops the import and is named.
        bad = os.path.join(s.dir, "bad.jsonl")
        with open(bad, "w") as f:
            f.write(json.dumps({"title": "fine"}) + "\n" + json.dumps({"title": "bad", "impact": 9}) + "\n")
        p = s.cli("import", "--data", s.data, "--type", "incidents", bad)
        check(p.returncode != 0, "import with a bad line exited 0")
        check(re.search(r"\b2\b", p.stderr), "the error does not name line 2: %r" % p.stderr[-300:])
        check("impact" in p.stderr, "the error does not name the field: %r" % p.stderr[-300:])
        with open(bad, "w") as f:
            f.write("{not json\n")
        p = s.cli("import", "--data", s.data, "--type", "incidents", bad)
        check(p.returncode != 0, "import of a line that is not JSON exited 0")
        rc, out = verify(s, s.data)
        eq(rc, 0, "audit verify after imports (%s)" % out.strip()[-300:])


def test_init_prints_generated_password(ctx):
    with ctx.new_site("initpw", init=False, start=False) as s:
        p = s.cli_ok("init", "--data", s.data, *s.store_args())
        m = re.search(r"(?im)^\s*admin password:\s*(\S+)\s*$", p.stdout)
        check(m, "kanri init without KANRI_ADMIN_PASSWORD printed no admin password: %r" % p.stdout[-500:])
        pw = m.group(1)
        check(len(pw) >= 12, "generated password is short: %r" % pw)
        s.tokens[ADMIN] = s.create_token(ADMIN)
        s.start()
        s.post("/session", {"name": ADMIN, "password": pw}, user=None).expect(200)
