"""tests/local_cluster.py - shared by the Python tests that run a quorum
with deploy/cluster.sh (tests/dashboard/run.py, tests/kafka/run.py).

free_base() picks SYNOD_BASE_PORT: below the kernel's ephemeral port range
(outgoing connections take ports from it, and a quorum's listener on one
of them fails with "address already in use"), with every port a 3-node
cluster.sh quorum listens on free right now (raft, client, HTTP, Kafka:
base + 1..3, +101..103, +201..203, +301..303)."""
import random
import socket


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
