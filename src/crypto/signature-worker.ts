// A worker thread that checks ed25519 signatures in batches for SignaturePool.
import { parentPort } from 'node:worker_threads'
import crypto from 'hypercore-crypto'

interface Msg { id: number; packed: Uint8Array; count: number }

// Packed as (uint32 length, message, 64-byte signature, 32-byte key) per item.
parentPort!.on('message', (msg: Msg) => {
  const ok = new Uint8Array(msg.count)
  const buf = msg.packed
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  let o = 0
  for (let i = 0; i < msg.count; i++) {
    const n = view.getUint32(o)
    const message = buf.subarray(o + 4, o + 4 + n)
    const signature = buf.subarray(o + 4 + n, o + 68 + n)
    const publicKey = buf.subarray(o + 68 + n, o + 100 + n)
    o += 100 + n
    ok[i] = crypto.verify(message, signature, publicKey) ? 1 : 0
  }
  parentPort!.postMessage({ id: msg.id, ok }, [ok.buffer as ArrayBuffer])
})
