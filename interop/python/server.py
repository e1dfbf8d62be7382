"""A WebSocket echo server built on Python's websockets package (the legacy
API of Debian's python3-websockets 10.x), with an HTTP control plane on the
same port, for the Go interop tests (../*_test.go).

    /usr/bin/python3 server.py [lifetime-ms]

Run it with /usr/bin/python3: Debian's package is installed for the system
interpreter only. It binds 127.0.0.1 on a free port, prints
"LISTENING <port>", and exits by itself after lifetime-ms (default 120000).
Every GET under /control/ answers 200 with a JSON snapshot of the counters,
400 for a bad request and 408 when a wait times out; any other request is a
WebSocket upgrade. The controls are those of ../node/server.js:

    /control/stats                          counters only
    /control/kill?how=rst|fin               drop every connection: TCP reset, or FIN, no close frame
    /control/close?code=N&reason=S          close every connection with code N and reason S
    /control/refuse?status=N&retry_after=S  answer upgrades with status N (and Retry-After: S)
    /control/accept                         accept upgrades again
    /control/pongs?on=0|1                   stop or resume answering pings
    /control/ping?every_ms=N                ping every connection every N ms (0: stop)
    /control/wait?conns=N&pongs=M&timeout_ms=T
                                            wait until exactly N connections are live and
                                            at least M pongs came back (either may be omitted)
"""

import asyncio
import http
import json
import socket
import struct
import sys
import time
import urllib.parse

import websockets
from websockets.legacy.server import WebSocketServerProtocol, serve

LIFETIME = float(sys.argv[1]) / 1000 if len(sys.argv) > 1 else 120.0

state = {
    "refuse": None,  # (status, retry_after) while refusing
    "pongs": True,
    "ping_task": None,
    "accepted": 0,
    "messages": 0,
    "pings_sent": 0,
    "pongs_received": 0,
}
conns = set()  # live connections
tasks = set()  # background tasks, kept referenced until done


def spawn(coro):
    task = asyncio.ensure_future(coro)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


class Protocol(WebSocketServerProtocol):
    """Answers pings only while state["pongs"] is on."""

    async def pong(self, data=b""):
        if state["pongs"]:
            await super().pong(data)


def stats():
    return {
        "live": len(conns),
        "accepted": state["accepted"],
        "messages": state["messages"],
        "pings_sent": state["pings_sent"],
        "pongs_received": state["pongs_received"],
        "refusing": state["refuse"] is not None,
        "pongs": state["pongs"],
    }


def reply(status, body):
    data = (json.dumps(body) + "\n").encode()
    return status, [("Content-Type", "application/json")], data


async def ping_one(ws):
    try:
        waiter = await ws.ping()
        state["pings_sent"] += 1
        await asyncio.wait_for(waiter, 5)
        state["pongs_received"] += 1
    except (websockets.ConnectionClosed, asyncio.TimeoutError):
        pass


async def pinger(every):
    while True:
        await asyncio.sleep(every)
        for ws in list(conns):
            spawn(ping_one(ws))


def kill(ws, how):
    if how == "rst":
        sock = ws.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.transport.abort()


async def control(path, query):
    q = {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}
    if path == "/control/stats":
        pass
    elif path == "/control/kill":
        how = q.get("how")
        if how not in ("rst", "fin"):
            return reply(http.HTTPStatus.BAD_REQUEST, {"error": "how must be rst or fin"})
        for ws in list(conns):
            kill(ws, how)
    elif path == "/control/close":
        code = int(q.get("code", "0"))
        if not 1000 <= code <= 4999:
            return reply(http.HTTPStatus.BAD_REQUEST, {"error": "bad code"})
        for ws in list(conns):
            spawn(ws.close(code, q.get("reason", "")))
    elif path == "/control/refuse":
        state["refuse"] = (int(q.get("status", "503")), q.get("retry_after", ""))
    elif path == "/control/accept":
        state["refuse"] = None
    elif path == "/control/pongs":
        state["pongs"] = q.get("on") != "0"
    elif path == "/control/ping":
        every = int(q.get("every_ms", "0"))
        if state["ping_task"] is not None:
            state["ping_task"].cancel()
            state["ping_task"] = None
        if every > 0:
            state["ping_task"] = asyncio.ensure_future(pinger(every / 1000))
    elif path == "/control/wait":
        want_conns = int(q["conns"]) if "conns" in q else None
        want_pongs = int(q.get("pongs", "0"))
        deadline = time.monotonic() + int(q.get("timeout_ms", "10000")) / 1000
        while not ((want_conns is None or len(conns) == want_conns) and state["pongs_received"] >= want_pongs):
            if time.monotonic() >= deadline:
                return reply(http.HTTPStatus.REQUEST_TIMEOUT, stats())
            await asyncio.sleep(0.005)
    else:
        return reply(http.HTTPStatus.NOT_FOUND, {"error": "unknown control " + path})
    return reply(http.HTTPStatus.OK, stats())


async def process_request(path, headers):
    url = urllib.parse.urlsplit(path)
    if url.path.startswith("/control/"):
        return await control(url.path, url.query)
    if state["refuse"] is not None:
        status, retry_after = state["refuse"]
        extra = [("Retry-After", retry_after)] if retry_after else []
        return http.HTTPStatus(status), extra, b"refused\n"
    return None


async def handler(ws):
    conns.add(ws)
    state["accepted"] += 1
    try:
        async for message in ws:
            state["messages"] += 1
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass
    finally:
        conns.discard(ws)


async def main():
    async with serve(
        handler,
        "127.0.0.1",
        0,
        create_protocol=Protocol,
        process_request=process_request,
        ping_interval=None,  # the control plane pings, on demand
        max_size=None,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"LISTENING {port}", flush=True)
        await asyncio.sleep(LIFETIME)
        print(f"server.py: lifetime of {LIFETIME:g} s is over, exiting", file=sys.stderr, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
