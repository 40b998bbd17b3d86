// A worker thread that checks and makes ed25519 signatures in batches for SignaturePool.
import { parentPort } from 'node:worker_threads'
import crypto from 'hypercore-crypto'

type Msg =
  | { id: number; op: 'verify'; items: Array<[Uint8Array, Uint8Array, Uint8Array]> }
  | { id: number; op: 'sign'; messages: Uint8Array[]; secretKey: Uint8Array }

parentPort!.on('message', (msg: Msg) => {
  if (msg.op === 'verify') {
    const ok = new Uint8Array(msg.items.length)
    for (let i = 0; i < msg.items.length; i++) {
      const [message, signature, publicKey] = msg.items[i]!
      ok[i] = crypto.verify(message, signature, publicKey) ? 1 : 0
    }
    parentPort!.postMessage({ id: msg.id, ok })
  } else {
    parentPort!.postMessage({ id: msg.id, signatures: msg.messages.map((m) => crypto.sign(m, msg.secretKey)) })
  }
})
