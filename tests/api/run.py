#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""run.py - the API suite: black-box tests against the real kanri binary.

    python3 tests/api/run.py [PATTERN...]

The binary is $KANRI_BIN (default build/kanri, relative to the repository
root). One server is started on a free loopback port with a fresh data folder
and users; every test_* function of tests/api/test_*.py runs against it, in
file order, and gets that site as its only argument. Prints "ok NAME" or
"FAIL NAME: reason" per test ("skip NAME: reason" for one that does not apply
to the store) and ends with "api: N passed, N failed"; exits non-zero when
anything failed. PATTERN limits the run to tests whose "module.function" name
contains one of the patterns. KANRI_KEEP=1 keeps the data folders (their paths
are printed on failure).

With KANRI_TEST_PG set to a PostgreSQL base DSN (see harness.py), every site
uses a database of its own on that server and the last line reads
"api[postgres]: N passed, N failed".
"""

import importlib.util
import inspect
import os
import sys
import time
import traceback

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402
from harness import Failure, Skip  # noqa: E402

LABEL = "api[postgres]" if harness.PG_BASE else "api"


def discover(patterns):
    tests = []
    for fn in sorted(os.listdir(HERE)):
        if not (fn.startswith("test_") and fn.endswith(".py")):
            continue
        modname = fn[:-3]
        spec = importlib.util.spec_from_file_location(modname, os.path.join(HERE, fn))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        funcs = [f for name, f in vars(mod).items()
                 if name.startswith("test_") and inspect.isfunction(f) and f.__module__ == modname]
        funcs.sort(key=lambda f: f.__code__.co_firstlineno)
        for f in funcs:
            name = "%s.%s" % (modname[5:], f.__name__[5:])
            if not patterns or any(p in name for p in patterns):
                tests.append((name, f))
    return tests


def reason_of(exc):
    if isinstance(exc, Failure):
        return str(exc)
    tb = traceback.extract_tb(exc.__traceback__)
    where = ""
    for fr in reversed(tb):
        if os.path.basename(fr.filename).startswith("test_"):
            where = " at %s:%d" % (os.path.basename(fr.filename), fr.lineno)
            break
    return "%s: %s%s" % (type(exc).__name__, exc, where)


def one_line(s):
    s = str(s).strip()
    return s.replace("\n", "\n    ")


def main():
    patterns = sys.argv[1:]
    passed = failed = skipped = 0
    t_start = time.time()
    if not os.access(harness.BIN, os.X_OK):
        print("FAIL setup: no kanri binary at %s (build it first, or set KANRI_BIN)" % harness.BIN)
        print("%s: 0 passed, 1 failed" % LABEL)
        return 1
    tests = discover(patterns)
    ctx = harness.Context()
    try:
        ctx.setup()
    except Exception as e:  # noqa: BLE001 - any setup failure ends the run
        print("FAIL setup: %s" % one_line(reason_of(e)))
        for p in ctx.stop():
            print("    " + one_line(p))
        if not ctx.keep:
            ctx.cleanup()
        print("%s: 0 passed, 1 failed" % LABEL)
        return 1
    if harness.PG_BASE:
        print("store: PostgreSQL, a database per site on %s" % harness.PG_BASE)
    if ctx.listen_line_missing:
        print("note: kanri serve answered but did not print 'kanri listening on ...'")

    for name, fn in tests:
        t0 = time.time()
        reason = skip = None
        try:
            fn(ctx)
        except Skip as e:
            skip = str(e)
        except Exception as e:  # noqa: BLE001 - a test's error is its failure
            reason = reason_of(e)
        problems = ctx.health_problems()
        if reason is not None and ctx.proc is not None and not ctx.answers():
            problems.append("server stopped answering; killed it: %s" % ctx.kill())
        if problems:
            reason = (reason + "; " if reason else "") + "; ".join(problems)
        dt = time.time() - t0
        if reason is None and skip is not None:
            skipped += 1
            print("skip %s: %s" % (name, one_line(skip)))
        elif reason is None:
            passed += 1
            print("ok %s (%.2fs)" % (name, dt))
        else:
            failed += 1
            print("FAIL %s: %s" % (name, one_line(reason)))
        sys.stdout.flush()
        if ctx.proc is None:
            try:
                ctx.start()
            except Exception as e:  # noqa: BLE001
                print("FAIL restart: could not restart the server: %s" % one_line(reason_of(e)))
                failed += 1
                break

    # The main server must stop cleanly, without sanitizer reports.
    problems = ctx.stop()
    if problems:
        failed += 1
        print("FAIL server.shutdown: %s" % one_line("; ".join(problems)))
    else:
        passed += 1
        print("ok server.shutdown")
    if ctx.keep:
        print("data kept in %s" % ctx.dir)
        if ctx.dbs:
            print("databases kept: %s" % " ".join(ctx.dbs))
    else:
        ctx.cleanup()
    print("time: %.1fs" % (time.time() - t_start))
    print("%s: %d passed, %d failed%s" % (LABEL, passed, failed,
                                         ", %d skipped" % skipped if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
