#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Crash-safety test: SIGKILL the server in the middle of a create load.

Three rounds on one data folder. In each round several client threads POST
incidents (Bearer token, keep-alive), the server is killed with SIGKILL while
requests are in flight, and then:

  durable     every create answered 201 is stored, same number and fields
  no-phantom  every stored incident is one this test sent (no invented rows)
  gap-free    numbers are unique and 1..N without holes, and match the ids
  integrity   PRAGMA integrity_check on DATA/kanri.db is "ok" (read-only,
              server stopped)
  audit       `kanri audit verify` exits 0 (server stopped)
  continues   after the restart a new create gets number N+1

Binary: env KANRI_BIN (default build/kanri). Prints one line per failure and
closes with "crash: N passed, N failed"; exits 1 on any failure.
"""
import http.client
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KANRI = os.path.join(ROOT, os.environ.get("KANRI_BIN") or "build/kanri")
ROUNDS = 3
CLIENTS = 6
GROUPS = ["service-desk", "network", "server"]
FIELDS = ["title", "description", "category", "organisation", "impact", "urgency",
          "assignment_group"]
START_TIMEOUT = 30.0

passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name}: {detail}")
    sys.stdout.flush()
    return ok


def run(args, env=None, timeout=120):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([KANRI] + args, env=e, capture_output=True, text=True,
                          timeout=timeout)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, data, logpath):
        self.data = data
        self.logpath = logpath
        self.proc = None
        self.port = None

    def start(self):
        self.port = free_port()
        log = open(self.logpath, "ab")
        start = log.tell()
        self.proc = subprocess.Popen(
            [KANRI, "serve", "--data", self.data, "--listen", f"127.0.0.1:{self.port}"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            with open(self.logpath, "rb") as f:
                f.seek(start)
                if b"kanri listening on" in f.read():
                    return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.02)
        return False

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None


def request(port, token, method, path, body=None, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=headers)
        r = c.getresponse()
        raw = r.read()
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = raw
        return r.status, doc
    finally:
        c.close()


class Load:
    """Client threads creating incidents until the server goes away."""

    def __init__(self, port, token, tag):
        self.port = port
        self.token = token
        self.tag = tag
        self.lock = threading.Lock()
        self.acked = []      # (sent body, answered record)
        self.unknown = []    # sent bodies without an answer (in flight at the kill)
        self.other = {}      # status -> count for answers that were not 201
        self.first_ack = threading.Event()
        self.stop = threading.Event()
        self.inflight = 0
        self.threads = [threading.Thread(target=self.worker, args=(i,), daemon=True)
                        for i in range(CLIENTS)]

    def body(self, i, n, rnd):
        return {
            "title": f"crash {self.tag} client {i} seq {n}",
            "description": f"created by tests/crash round {self.tag}, client {i}, seq {n}",
            "category": rnd.choice(["hardware", "software", "network", "access"]),
            "organisation": "ACME",
            "impact": rnd.randint(1, 3),
            "urgency": rnd.randint(1, 3),
            "assignment_group": rnd.choice(GROUPS),
        }

    def worker(self, i):
        rnd = random.Random(f"{self.tag}-{i}")
        conn = None
        n = 0
        while not self.stop.is_set():
            n += 1
            b = self.body(i, n, rnd)
            payload = json.dumps(b).encode()
            sent = False
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                with self.lock:
                    self.inflight += 1
                try:
                    conn.putrequest("POST", "/api/v1/incidents")
                    conn.putheader("Authorization", f"Bearer {self.token}")
                    conn.putheader("Content-Type", "application/json")
                    conn.putheader("Content-Length", str(len(payload)))
                    conn.endheaders()
                    sent = True  # from here on the server may have the request
                    conn.send(payload)
                    r = conn.getresponse()
                    raw = r.read()
                finally:
                    with self.lock:
                        self.inflight -= 1
            except (OSError, http.client.HTTPException):
                if sent:
                    with self.lock:
                        self.unknown.append(b)
                return  # the server is gone
            with self.lock:
                if r.status == 201:
                    try:
                        rec = json.loads(raw)
                    except ValueError:
                        rec = {"number": None, "unparsable": raw[:200].decode("latin-1")}
                    self.acked.append((b, rec))
                    self.first_ack.set()
                else:
                    self.other[r.status] = self.other.get(r.status, 0) + 1
            if r.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None

    def start(self):
        for t in self.threads:
            t.start()

    def join(self):
        for t in self.threads:
            t.join(timeout=60)


def number_of(rec):
    num = rec.get("number") or ""
    try:
        return int(num.split("-", 1)[1])
    except (IndexError, ValueError):
        return None


def list_all(port, token):
    """Every incident through the API, by id, following the cursor."""
    items, cursor, total = [], None, None
    for _ in range(10000):
        path = "/api/v1/incidents?sort=id&limit=500"
        if cursor:
            path += "&cursor=" + cursor
        st, doc = request(port, token, "GET", path)
        if st != 200:
            raise RuntimeError(f"list answered {st}: {doc}")
        if total is None:
            total = doc.get("total")
        items.extend(doc["items"])
        cursor = doc.get("next")
        if not cursor:
            break
    return items, total


def integrity(dbpath):
    try:
        db = sqlite3.connect(f"file:{dbpath}?mode=ro", uri=True, timeout=10)
        try:
            rows = db.execute("PRAGMA integrity_check").fetchall()
        finally:
            db.close()
        return rows == [("ok",)], rows[:5]
    except sqlite3.Error as e:
        return False, str(e)


def offline_checks(r, data):
    ok, rows = integrity(os.path.join(data, "kanri.db"))
    check(f"round {r}: integrity_check ok", ok, rows)
    res = run(["audit", "verify", "--data", data])
    check(f"round {r}: audit verify exits 0", res.returncode == 0,
          f"exit {res.returncode}: {(res.stdout + res.stderr).strip()[-800:]}")


def main():
    if not os.access(KANRI, os.X_OK):
        print(f"crash: no binary at {KANRI}")
        print("crash: 0 passed, 1 failed")
        return 1
    t_start = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="kanri-crash.")
    data = os.path.join(tmp, "data")
    logpath = os.path.join(tmp, "server.log")
    server = Server(data, logpath)
    try:
        res = run(["init", "--data", data], {"KANRI_ADMIN_PASSWORD": "crash-admin-pw-1"})
        if not check("init", res.returncode == 0, res.stderr.strip()):
            return 1
        res = run(["user", "add", "--data", data, "--name", "crasher", "--role", "agent"],
                  {"KANRI_PASSWORD": "crash-agent-pw-1"})
        check("user add", res.returncode == 0, res.stderr.strip())
        res = run(["token", "create", "--data", data, "--user", "crasher"])
        token = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else ""
        check("token create", res.returncode == 0 and token, res.stderr.strip())
        groups = os.path.join(tmp, "groups.jsonl")
        with open(groups, "w") as f:
            for g in GROUPS:
                f.write(json.dumps({"name": g}) + "\n")
        res = run(["import", "--data", data, "--type", "groups", groups])
        if not check("import groups", res.returncode == 0, (res.stdout + res.stderr).strip()):
            return 1
        if not check("server starts", server.start(), open(logpath).read()[-2000:]):
            return 1

        expected = {}  # number -> (sent body, answered record), every ack so far
        sent_titles = set()
        next_number = 1
        for r in range(1, ROUNDS + 1):
            load = Load(server.port, token, r)
            load.start()
            if not load.first_ack.wait(timeout=20):
                check(f"round {r}: load gets 201s", False, f"statuses {load.other}")
                load.stop.set()
                server.kill()
                load.join()
                return 1
            time.sleep(random.uniform(0.5, 1.5))
            with load.lock:
                inflight = load.inflight
            server.kill()
            load.join()
            print(f"round {r}: killed with {inflight} requests in flight; "
                  f"{len(load.acked)} answered 201, {len(load.unknown)} unanswered, "
                  f"other statuses {load.other}")
            sent_titles.update(b["title"] for b, _ in load.acked)
            sent_titles.update(b["title"] for b in load.unknown)
            for b, rec in load.acked:
                n = number_of(rec)
                if n in expected:
                    check(f"round {r}: numbers of 201 answers unique", False,
                          f"{rec.get('number')} answered twice")
                expected[n] = (b, rec)

            offline_checks(r, data)

            if not check(f"round {r}: server restarts", server.start(),
                         open(logpath).read()[-2000:]):
                return 1
            try:
                items, total = list_all(server.port, token)
            except (OSError, RuntimeError, http.client.HTTPException) as e:
                check(f"round {r}: list after restart", False, str(e))
                return 1
            by_number = {}
            for it in items:
                by_number.setdefault(number_of(it), []).append(it)

            # durable: every 201 is there, same number, same fields
            bad = []
            for n, (b, rec) in sorted(expected.items()):
                got = by_number.get(n)
                if not got:
                    bad.append(f"{rec.get('number')} (id {rec.get('id')}) answered 201 is missing")
                    continue
                g = got[0]
                if g.get("id") != rec.get("id"):
                    bad.append(f"{rec.get('number')}: id {g.get('id')} != answered {rec.get('id')}")
                for k in FIELDS + ["priority", "state", "created_by"]:
                    want = b[k] if k in b else rec.get(k)
                    if g.get(k) != want:
                        bad.append(f"{rec.get('number')}: {k} = {g.get(k)!r}, expected {want!r}")
                if len(bad) > 10:
                    break
            check(f"round {r}: every 201 stored with its number and fields "
                  f"({len(expected)} records)", not bad, "; ".join(bad[:10]))

            # no phantom: everything stored was sent by this test
            phantom = [it.get("number") for it in items if it.get("title") not in sent_titles]
            check(f"round {r}: nothing stored that was not sent", not phantom,
                  f"{len(phantom)} unexpected, e.g. {phantom[:5]}")

            # gap-free numbering
            nums = [number_of(it) for it in items]
            dup = sorted(n for n in by_number if len(by_number[n]) > 1)
            n_max = max(nums) if nums else 0
            missing = sorted(set(range(1, n_max + 1)) - set(nums))
            problems = []
            if None in nums:
                problems.append("a record without a number")
            if dup:
                problems.append(f"duplicate numbers {dup[:5]}")
            if missing:
                problems.append(f"missing numbers {missing[:10]}")
            if total is not None and total != len(items):
                problems.append(f"total {total} != {len(items)} listed")
            if n_max < next_number - 1:
                problems.append(f"highest number {n_max} < {next_number - 1} seen before")
            check(f"round {r}: numbers unique and gap-free 1..{n_max}", not problems,
                  "; ".join(problems))

            # numbering continues after the restart
            b = {"title": f"crash after restart {r}", "impact": 2, "urgency": 2,
                 "assignment_group": GROUPS[0]}
            st, rec = request(server.port, token, "POST", "/api/v1/incidents", b)
            ok = st == 201 and isinstance(rec, dict) and number_of(rec) == n_max + 1
            check(f"round {r}: new create after restart is number {n_max + 1}", ok,
                  f"HTTP {st}: {str(rec)[:300]}")
            if ok:
                b2 = dict(b, description=None, category=None, organisation=None)
                expected[n_max + 1] = ({k: v for k, v in b2.items()}, rec)
                sent_titles.add(b["title"])
            next_number = n_max + 2
            # drop unanswered creates that made it in: they are now known
            for n, lst in by_number.items():
                if n not in expected and lst:
                    it = lst[0]
                    expected[n] = ({k: it.get(k) for k in FIELDS}, it)

        rc = server.stop()
        check("graceful stop exits 0", rc == 0, f"exit {rc}")
        offline_checks("final", data)
    finally:
        if server.proc and server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()
        if failed and os.environ.get("KEEP"):
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"took {time.monotonic() - t_start:.1f} s")
        print(f"crash: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
