#!/usr/bin/env python3
"""tests/dashboard/run.py - the dashboard in headless Chromium against a
3-node quorum with simulated brokers (docs/operations.md "Dashboard").

Invariant checked: the dashboard served by a node loads with nothing from
outside that node, shows every quorum node and a leader, and, after the
brokers of a topic are killed and fenced, shows its partitions offline
without a reload. The screenshot is kept in OUT_DIR (default
build/test-artifacts).

  tests/dashboard/run.py [--build-dir build] [--out DIR]

Needs node, the npm package playwright-core (npm ci in tests/dashboard,
done by deploy/install-deps.sh) and /usr/bin/chromium.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
from local_cluster import forget, free_base, reap, stop_with_me  # noqa: E402


def wait_for(what, fn, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    sys.exit(f"dashboard test: timed out waiting for {what}")


def diagnose(ctl_run, tmp):
    """What the quorum says when the page did not show what it should:
    the partitions and brokers as synodctl sees them, and each node's last
    log lines (CI keeps only this output)."""
    for args in (("quorum", "status"), ("broker", "list"),
                 ("partition", "list")):
        r = ctl_run(*args)
        print(f"dashboard: synodctl {' '.join(args)} (rc {r.returncode}):\n"
              f"{r.stdout}{r.stderr}", file=sys.stderr)
    for name in sorted(os.listdir(tmp)):
        if name.endswith(".log"):
            with open(os.path.join(tmp, name), errors="replace") as f:
                tail = f.readlines()[-25:]
            print(f"dashboard: last lines of {name}:\n{''.join(tail)}",
                  file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    build = os.path.abspath(args.build_dir)
    out = os.path.abspath(args.out or os.path.join(build, "test-artifacts"))
    os.makedirs(out, exist_ok=True)
    if not os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core")):
        sys.exit("dashboard test: run `npm ci` in tests/dashboard "
                 "(deploy/install-deps.sh does)")
    if shutil.which("node") is None or not os.path.exists(
            os.environ.get("CHROMIUM", "/usr/bin/chromium")):
        sys.exit("dashboard test: node and /usr/bin/chromium are needed "
                 "(deploy/install-deps.sh installs them)")
    tmp = tempfile.mkdtemp(prefix="synod-dash-")
    base = free_base()
    env = stop_with_me(dict(os.environ, SYNOD_CLUSTER_DIR=tmp,
                            SYNOD_BASE_PORT=str(base), SYNOD_BUILD_DIR=build,
                            # not the 300 ms of failover tests: Chromium
                            # loads both cores while it starts, and leader
                            # changes are not what this test is about
                            SYNOD_FLAGS="--election-timeout-ms 1000 "
                                        "--heartbeat-timeout-ms 100"))
    cluster = os.path.join(ROOT, "deploy", "cluster.sh")
    ctl = os.path.join(build, "synodctl")
    sim = None
    check = None
    ok = False
    try:
        subprocess.run([cluster, "start", "3"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        boot = subprocess.run([cluster, "bootstrap"], env=env, check=True,
                              capture_output=True, text=True).stdout.strip()
        def ctl_run(*a):
            return subprocess.run([ctl, "-b", boot, *a], capture_output=True,
                                  text=True)
        wait_for("a leader",
                 lambda: ctl_run("config", "set",
                                 "broker.session.timeout.ms=1000",
                                 "broker.heartbeat.interval.ms=200").returncode == 0)
        sim = reap(subprocess.Popen(
            [os.path.join(build, "synod-sim"), "--bootstrap", boot,
             "--brokers", "3", "--first-id", "1", "--racks", "2"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), "sim")
        wait_for("three brokers",
                 lambda: ctl_run("topic", "create", "dash", "--partitions",
                                 "6", "--replication-factor",
                                 "1").returncode == 0)
        url = f"http://127.0.0.1:{base + 202}/?timeout_ms=5000"
        check = subprocess.Popen(["node", os.path.join(HERE, "check.mjs"), url,
                                  out], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True, cwd=HERE)
        line = check.stdout.readline().strip()
        print("dashboard:", line)
        if not line.startswith("READY"):
            sys.exit(f"dashboard test: {line or 'the browser exited'}")
        forget(sim)  # SIGKILL
        sim = None
        check.stdin.write("KILLED\n")
        check.stdin.flush()
        line = check.stdout.readline().strip()
        print("dashboard:", line)
        if not line.startswith("OK"):
            diagnose(ctl_run, tmp)
            sys.exit(f"dashboard test: {line or 'the browser exited'}")
        check.wait(timeout=30)
        print(f"dashboard: screenshot {out}/dashboard.png")
        ok = True
    finally:
        if check and check.poll() is None:
            check.kill()
        if sim:
            forget(sim)
        subprocess.run([cluster, "stop"], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"dashboard test: logs kept in {tmp}", file=sys.stderr)


if __name__ == "__main__":
    main()
