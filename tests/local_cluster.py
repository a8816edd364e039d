"""tests/local_cluster.py - shared by the tests that run a quorum with
deploy/cluster.sh (tests/dashboard/run.py, tests/kafka/run.py, and through
tests/ports.sh the shell tests and deploy/rolling-upgrade.sh).

free_base() reserves SYNOD_BASE_PORT: a slot of SLOT ports (base + 1 ..
base + SLOT - 1) from LOW up to the kernel's ephemeral port range
(outgoing connections take ports from it, and a quorum's listener on one
of them fails with "address already in use"). A slot is reserved by an
exclusive flock on ${TMPDIR:-/tmp}/synod-ports/slot-N, held until the
process (and, for tests/ports.sh, every daemon that inherited the lock's
descriptor) has gone, so tests that ctest runs in parallel, from one build
directory or several, never share a port; a slot is taken only when every
port of it is free right now too (a daemon of no test may hold one). A
3-node cluster.sh quorum listens on base + 1..3, +101..103, +201..203 and
+301..303; a test's other listeners stay below base + SLOT.

stop_with_me() and reap(): the quorum and the test's own daemons go when
the test goes, even when ctest SIGKILLs it at its timeout and no finally
clause runs (deploy/cluster.sh, SYNOD_STOP_WITH).

As a program (tests/ports.sh): `local_cluster.py slots` prints how many
slots there are; `local_cluster.py lock N` the path of slot N's lock file
(made ready); `local_cluster.py slot N` prints slot N's base when every
port of it is free, else exits 1 (the caller holds the slot's lock)."""
import fcntl
import os
import random
import socket
import sys

LOW = 10000
SLOT = 500

_pid_dir = None
_pid_files = {}  # pid -> its file, for forget()


def stop_with_me(env):
    """cluster.sh, run with env, leaves a watcher that stops the quorum of
    env["SYNOD_CLUSTER_DIR"], and kills what reap() named, once this
    process has gone."""
    global _pid_dir
    env["SYNOD_STOP_WITH"] = str(os.getpid())
    _pid_dir = env["SYNOD_CLUSTER_DIR"]
    return env


def reap(proc, name):
    """proc (a subprocess.Popen) dies with this process too; returns it."""
    if _pid_dir is not None:
        path = os.path.join(_pid_dir, name + ".pid")
        with open(path, "w") as f:
            f.write("%d\n" % proc.pid)
        _pid_files[proc.pid] = path
    return proc


def forget(proc):
    """Kills proc (SIGKILL) and waits for it; a reap()ed one's pid is no
    longer the watcher's to kill."""
    path = _pid_files.pop(proc.pid, None)
    if path is not None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    proc.kill()
    proc.wait()


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _free(port):
    # SO_REUSEADDR as the daemons' listeners (libuv) bind: a port in
    # TIME_WAIT after an earlier test is free for them.
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def slots():
    """How many slots fit between LOW and the ephemeral range."""
    return max((min(_ephemeral_low(), 65536) - LOW) // SLOT, 1)


def slot_base(n):
    """Slot n's base when every port of it is free right now, else None."""
    base = LOW + n * SLOT
    if all(_free(base + i) for i in range(1, SLOT)):
        return base
    return None


def lock_path(n):
    d = os.path.join(os.environ.get("TMPDIR") or "/tmp", "synod-ports")
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, "slot-%d" % n)


_held = []  # the lock files of this process's slots, open until it exits


def free_base(extra=0):
    """Reserves a slot for this process and returns its base. extra: base
    + 401..400+extra are the simulated brokers' Kafka listeners
    (tests/kafka/run.py); they must fit in the slot."""
    if 400 + extra >= SLOT:
        raise SystemExit("free_base: %d extra ports do not fit in a slot"
                         % extra)
    n = slots()
    first = random.randrange(n)
    for i in range(n):
        k = (first + i) % n
        f = open(lock_path(k), "a")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        base = slot_base(k)
        if base is not None:
            _held.append(f)
            return base
        f.close()
    raise SystemExit("no free slot of ports for a local quorum (%d slots "
                     "of %d from %d)" % (n, SLOT, LOW))


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "slots":
        print(slots())
    elif len(sys.argv) == 3 and sys.argv[1] == "lock":
        print(lock_path(int(sys.argv[2])))
    elif len(sys.argv) == 3 and sys.argv[1] == "slot":
        b = slot_base(int(sys.argv[2]))
        if b is None:
            sys.exit(1)
        print(b)
    else:
        sys.exit("usage: local_cluster.py slots | slot N | lock N")
