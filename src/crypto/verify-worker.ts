// A worker thread that checks ed25519 signatures in batches for VerifyPool.
import { parentPort } from 'node:worker_threads'
import crypto from 'hypercore-crypto'

parentPort!.on('message', (msg: { id: number; items: Array<[Uint8Array, Uint8Array, Uint8Array]> }) => {
  const ok = new Uint8Array(msg.items.length)
  for (let i = 0; i < msg.items.length; i++) {
    const [message, signature, publicKey] = msg.items[i]!
    ok[i] = crypto.verify(message, signature, publicKey) ? 1 : 0
  }
  parentPort!.postMessage({ id: msg.id, ok })
})
