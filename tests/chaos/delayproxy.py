#!/usr/bin/env python3
"""Delaying TCP proxy for chaos runs (latency faults without sch_netem).

    delayproxy.py PORT CONTROL_FILE MARK

Runs inside one node's network namespace. An nft rule of the harness
redirects the node's outgoing raft connections (tcp dport RAFT_PORT) to
127.0.0.1:PORT; the proxy finds the original destination
(SO_ORIGINAL_DST), connects to it with SO_MARK=MARK (which the redirect
rule skips) and forwards both directions, holding every chunk for the
delay in force when it was read: `DELAY_MS [JITTER_MS]` in CONTROL_FILE
(re-read every 100 ms; missing or unreadable: no delay). Order within a
direction is kept (a chunk never overtakes an earlier one), as on a slow
link. It exits when its stdin closes or on SIGTERM.
"""
import asyncio
import os
import random
import signal
import socket
import struct
import sys

SO_ORIGINAL_DST = 80
CONNECT_TIMEOUT_S = 5.0


class Control:
    def __init__(self, path):
        self.path = path
        self.delay = 0.0
        self.jitter = 0.0
        self._seen = None

    def poll(self):
        try:
            st = os.stat(self.path)
            key = (st.st_mtime_ns, st.st_size)
        except OSError:
            key = None
        if key == self._seen:
            return
        self._seen = key
        d, j = 0.0, 0.0
        if key is not None:
            try:
                with open(self.path) as f:
                    parts = f.read().split()
                d = float(parts[0]) / 1000.0 if parts else 0.0
                j = float(parts[1]) / 1000.0 if len(parts) > 1 else 0.0
            except (OSError, ValueError):
                d, j = 0.0, 0.0
        self.delay, self.jitter = max(d, 0.0), max(j, 0.0)


async def pump(reader, writer, ctl, done):
    """Forward reader to writer with the delay; set done when either side
    ends (EOF or error)."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def sender():
        try:
            while True:
                at, data = await queue.get()
                wait = at - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
        except (OSError, ConnectionError):
            pass
        finally:
            done.set()

    task = asyncio.create_task(sender())
    last = 0.0
    try:
        while not done.is_set():
            data = await reader.read(65536)
            if not data:
                break
            at = max(last, loop.time() + ctl.delay +
                     random.uniform(0.0, ctl.jitter))
            last = at
            queue.put_nowait((at, data))
        # What was read before the end still goes out, then the end.
        while not queue.empty() and not done.is_set():
            await asyncio.sleep(0.01)
    except (OSError, ConnectionError):
        pass
    finally:
        done.set()
        task.cancel()


async def handle(reader, writer, ctl, mark):
    """One proxied connection. Either side's end resets both (raft_uv
    only writes on its outgoing connections: a half-closed one would
    swallow its messages without an error, unlike a real peer's end)."""
    sock = writer.get_extra_info("socket")
    up_w = None
    done = asyncio.Event()
    try:
        raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
        port, ip = struct.unpack("!2xH4s8x", raw)
        dst = (socket.inet_ntoa(ip), port)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, mark)
        s.setblocking(False)
        await asyncio.wait_for(
            asyncio.get_running_loop().sock_connect(s, dst),
            CONNECT_TIMEOUT_S)
        up_r, up_w = await asyncio.open_connection(sock=s)
        a = asyncio.create_task(pump(reader, up_w, ctl, done))
        b = asyncio.create_task(pump(up_r, writer, ctl, done))
        await done.wait()
        for t in (a, b):
            t.cancel()
    except (OSError, ConnectionError, asyncio.TimeoutError):
        pass
    finally:
        for w in (writer, up_w):
            if w is not None:
                w.transport.abort()  # RST, as a dead peer's kernel does


async def main(port, path, mark):
    ctl = Control(path)
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, ctl, mark), "127.0.0.1", port)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    loop.add_reader(sys.stdin.fileno(), lambda: (
        None if stop.done() or os.read(sys.stdin.fileno(), 1)
        else stop.set_result(None)))
    print("ready", flush=True)
    while not stop.done():
        ctl.poll()
        await asyncio.wait([stop], timeout=0.1)
    server.close()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3], 0)))
