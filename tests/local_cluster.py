"""tests/local_cluster.py - shared by the Python tests that run a quorum
with deploy/cluster.sh (tests/dashboard/run.py, tests/kafka/run.py).

free_base() picks SYNOD_BASE_PORT: below the kernel's ephemeral port range
(outgoing connections take ports from it, and a quorum's listener on one
of them fails with "address already in use"), with every port a 3-node
cluster.sh quorum listens on free right now (raft, client, HTTP, Kafka:
base + 1..3, +101..103, +201..203, +301..303).

stop_with_me() and reap(): the quorum and the test's own daemons go when
the test goes, even when ctest SIGKILLs it at its timeout and no finally
clause runs (deploy/cluster.sh, SYNOD_STOP_WITH)."""
import os
import random
import socket

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
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_base(nodes=3, tries=50, extra=0):
    """extra: base + 401..400+extra free too (simulated brokers' Kafka
    listeners, tests/kafka/run.py)."""
    top = min(_ephemeral_low(), 65536) - 310 - (100 + extra if extra else 0)
    for _ in range(tries):
        base = random.randrange(10000, max(top, 10010), 10)
        ports = [base + off + i for off in (0, 100, 200, 300)
                 for i in range(1, nodes + 1)]
        ports += [base + 400 + i for i in range(1, extra + 1)]
        if all(_free(p) for p in ports):
            return base
    raise SystemExit("no free base port for a local quorum")
