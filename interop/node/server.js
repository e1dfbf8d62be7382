'use strict';

// A WebSocket echo server built on the Node "ws" package, with an HTTP
// control plane on the same port, for the Go interop tests (../*_test.go).
//
//   node server.js [lifetime-ms]
//
// It binds 127.0.0.1 on a free port, prints "LISTENING <port>", and exits by
// itself after lifetime-ms (default 120000). Every GET under /control/
// answers 200 with a JSON snapshot of the counters, 400 for a bad request and
// 408 when a wait times out; any other request is a WebSocket upgrade.
//
//   /control/stats                          counters only
//   /control/kill?how=rst|fin               drop every connection: TCP reset, or FIN, no close frame
//   /control/close?code=N&reason=S          close every connection with code N and reason S
//   /control/refuse?status=N&retry_after=S  answer upgrades with status N (and Retry-After: S)
//   /control/accept                         accept upgrades again
//   /control/pongs?on=0|1                   stop or resume answering pings
//   /control/ping?every_ms=N                ping every connection every N ms (0: stop)
//   /control/wait?conns=N&pongs=M&timeout_ms=T
//                                           wait until exactly N connections are live and
//                                           at least M pongs came back (either may be omitted)

const http = require('http');
const { WebSocketServer } = require('ws');

const lifetime = Number(process.argv[2] || 120000);

const state = {
  refuse: null, // {status, retryAfter} while refusing
  pongs: true,
  pingTimer: null,
  accepted: 0,
  messages: 0,
  pingsSent: 0,
  pongsReceived: 0,
};
const sockets = new Map(); // live WebSocket -> its net.Socket

const wss = new WebSocketServer({ noServer: true, autoPong: false, maxPayload: 64 << 20 });

wss.on('connection', (ws, socket) => {
  sockets.set(ws, socket);
  state.accepted++;
  ws.on('message', (data, isBinary) => {
    state.messages++;
    ws.send(data, { binary: isBinary });
  });
  ws.on('ping', (data) => {
    if (state.pongs) ws.pong(data);
  });
  ws.on('pong', () => {
    state.pongsReceived++;
  });
  ws.on('close', () => sockets.delete(ws));
  ws.on('error', () => sockets.delete(ws));
});

function stats() {
  return {
    live: sockets.size,
    accepted: state.accepted,
    messages: state.messages,
    pings_sent: state.pingsSent,
    pongs_received: state.pongsReceived,
    refusing: state.refuse !== null,
    pongs: state.pongs,
  };
}

function reply(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json', Connection: 'close' });
  res.end(JSON.stringify(body) + '\n');
}

function control(req, res) {
  const url = new URL(req.url, 'http://localhost');
  const q = url.searchParams;
  switch (url.pathname) {
    case '/control/stats':
      break;
    case '/control/kill': {
      const how = q.get('how');
      if (how !== 'rst' && how !== 'fin') return reply(res, 400, { error: 'how must be rst or fin' });
      for (const socket of sockets.values()) {
        if (how === 'rst') socket.resetAndDestroy();
        else socket.destroy();
      }
      break;
    }
    case '/control/close': {
      const code = Number(q.get('code'));
      const reason = q.get('reason') || '';
      if (!(code >= 1000 && code <= 4999)) return reply(res, 400, { error: 'bad code' });
      try {
        for (const ws of sockets.keys()) ws.close(code, reason);
      } catch (e) {
        return reply(res, 400, { error: String(e) });
      }
      break;
    }
    case '/control/refuse':
      state.refuse = { status: Number(q.get('status') || 503), retryAfter: q.get('retry_after') || '' };
      break;
    case '/control/accept':
      state.refuse = null;
      break;
    case '/control/pongs':
      state.pongs = q.get('on') !== '0';
      break;
    case '/control/ping': {
      const every = Number(q.get('every_ms') || 0);
      clearInterval(state.pingTimer);
      state.pingTimer = null;
      if (every > 0) {
        state.pingTimer = setInterval(() => {
          for (const ws of sockets.keys()) {
            state.pingsSent++;
            ws.ping();
          }
        }, every);
      }
      break;
    }
    case '/control/wait': {
      const conns = q.has('conns') ? Number(q.get('conns')) : null;
      const pongs = Number(q.get('pongs') || 0);
      const deadline = Date.now() + Number(q.get('timeout_ms') || 10000);
      const check = () => {
        if ((conns === null || sockets.size === conns) && state.pongsReceived >= pongs) return reply(res, 200, stats());
        if (Date.now() >= deadline) return reply(res, 408, stats());
        setTimeout(check, 5);
      };
      return check();
    }
    default:
      return reply(res, 404, { error: 'unknown control ' + url.pathname });
  }
  reply(res, 200, stats());
}

const server = http.createServer(control);

server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => {});
  if (state.refuse) {
    const { status, retryAfter } = state.refuse;
    const headers = [`HTTP/1.1 ${status} ${http.STATUS_CODES[status] || 'Refused'}`];
    if (retryAfter) headers.push(`Retry-After: ${retryAfter}`);
    headers.push('Content-Type: text/plain', 'Content-Length: 8', 'Connection: close', '', 'refused\n');
    socket.end(headers.join('\r\n'));
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, socket));
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});

setTimeout(() => {
  process.stderr.write(`server.js: lifetime of ${lifetime} ms is over, exiting\n`);
  process.exit(0);
}, lifetime);
