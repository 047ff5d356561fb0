// The reference libutp (utp-native 2.5.3, Node bindings) as a peer for test_interop_node.py.
//   node node_peer.js server          echo server on 127.0.0.1; prints {"port": N}, then one
//                                     {"bytes": N} line when its connection closes
//   node node_peer.js client PORT MiB sends MiB of pattern(), half-closes, checks the echo;
//                                     prints {"sent": N, "echoed": N, "ok": bool}; exit 0 if ok
// pattern(i) = (i * 131 + (i >> 16)) & 0xff, the same as the Python test. Loopback only.
// UDP socket buffers are 4 MiB (libutp loses datagrams with the default ones, see peers.md).
'use strict'
const utp = require('utp-native')

const UDP_BUF = 4 * 1024 * 1024
const patternByte = (i) => (i * 131 + Math.floor(i / 65536)) & 0xff
const mode = process.argv[2]

setTimeout(() => { console.log(JSON.stringify({ error: 'timeout' })); process.exit(3) }, 60000).unref()

if (mode === 'server') {
  let bytes = 0
  const server = utp.createServer((sock) => {
    sock.on('data', (d) => { bytes += d.length })
    sock.on('error', (e) => console.error('server error', e.message))
    sock.on('close', () => {
      console.log(JSON.stringify({ bytes }))
      server.close()
    })
    sock.pipe(sock) // echo; ends our side after the peer's FIN
  })
  server.listen(0, '127.0.0.1', () => {
    server.setRecvBufferSize(UDP_BUF)
    server.setSendBufferSize(UDP_BUF)
    console.log(JSON.stringify({ port: server.address().port }))
  })
} else if (mode === 'client') {
  const port = parseInt(process.argv[3], 10)
  const total = Math.round(parseFloat(process.argv[4]) * 1048576)
  const u = utp()
  u.bind(0, '127.0.0.1')
  u.once('listening', () => { u.setRecvBufferSize(UDP_BUF); u.setSendBufferSize(UDP_BUF) })
  const sock = u.connect(port, '127.0.0.1')
  let sent = 0
  let echoed = 0
  let bad = -1
  const chunk = 65536
  const pump = () => {
    while (sent < total) {
      const n = Math.min(chunk, total - sent)
      const b = Buffer.alloc(n)
      for (let i = 0; i < n; i++) b[i] = patternByte(sent + i)
      sent += n
      if (!sock.write(b)) { sock.once('drain', pump); return }
    }
    sock.end()
  }
  sock.on('data', (d) => {
    for (let i = 0; i < d.length && bad < 0; i++) if (d[i] !== patternByte(echoed + i)) bad = echoed + i
    echoed += d.length
  })
  sock.on('error', (e) => { console.log(JSON.stringify({ error: e.message })); process.exit(2) })
  sock.on('end', () => {
    const ok = bad < 0 && echoed === total && sent === total
    console.log(JSON.stringify({ sent, echoed, first_bad: bad, ok }))
    sock.destroy()
    u.close()
    setTimeout(() => process.exit(ok ? 0 : 1), 50)
  })
  pump()
} else {
  console.error('usage: node node_peer.js server | client PORT MiB')
  process.exit(64)
}
