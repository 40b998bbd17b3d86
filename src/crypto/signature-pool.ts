/**
 * Signature checks off the main thread. An ed25519 verify costs ~50 µs here,
 * the largest single cost of a call; worker threads take them to the other
 * core while the main thread commits. Checks asked for in the same tick go
 * out as one batch. When nothing else is waiting, a check runs inline: a
 * lone call should not pay a thread round trip.
 */
import { Worker } from 'node:worker_threads'
import { availableParallelism } from 'node:os'
import crypto from 'hypercore-crypto'

type Item = [message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array]

interface Pending { items: Item[]; resolves: Array<(ok: boolean) => void> }

const WORKER = new URL('./signature-worker.js', import.meta.url)

export class SignaturePool {
  private workers: Worker[] = []
  private busy: number[] = []
  private waiting = new Map<number, { items: Item[]; resolves: Array<(ok: boolean) => void>; worker: number }>()
  private pending: Pending | null = null
  private nextId = 0
  private inflight = 0
  private closed = false
  size: number

  constructor(size = Math.max(1, Math.min(2, availableParallelism()))) {
    this.size = size
  }

  verify(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): Promise<boolean> {
    if (this.closed || this.size === 0) return Promise.resolve(crypto.verify(message, signature, publicKey))
    if (this.inflight === 0 && this.pending === null) {
      // Idle: inline is faster than a round trip to a thread.
      this.inflight++
      const ok = crypto.verify(message, signature, publicKey)
      queueMicrotask(() => { this.inflight-- })
      return Promise.resolve(ok)
    }
    return new Promise((resolve) => {
      if (this.pending === null) {
        this.pending = { items: [], resolves: [] }
        setImmediate(() => this.dispatch())
      }
      this.pending.items.push([message, signature, publicKey])
      this.pending.resolves.push(resolve)
    })
  }

  private dispatch(): void {
    const p = this.pending
    this.pending = null
    if (!p || p.items.length === 0) return
    if (this.closed) {
      for (let i = 0; i < p.items.length; i++) p.resolves[i]!(crypto.verify(...p.items[i]!))
      return
    }
    // Split the batch over the workers.
    const n = Math.min(this.size, Math.ceil(p.items.length / 16))
    const per = Math.ceil(p.items.length / n)
    for (let k = 0; k < n; k++) {
      const items = p.items.slice(k * per, (k + 1) * per)
      const resolves = p.resolves.slice(k * per, (k + 1) * per)
      if (items.length === 0) continue
      const w = this.pick()
      const id = this.nextId++
      this.waiting.set(id, { items, resolves, worker: w })
      this.busy[w]!++
      this.inflight++
      const packed = pack(items)
      this.workers[w]!.postMessage({ id, packed, count: items.length }, [packed.buffer as ArrayBuffer])
    }
  }

  private pick(): number {
    if (this.workers.length < this.size) {
      const w = new Worker(WORKER)
      const index = this.workers.length
      w.on('message', (msg: { id: number; ok: Uint8Array }) => this.done(msg))
      w.on('error', () => this.fail(index))
      w.unref()
      this.workers.push(w)
      this.busy.push(0)
      return index
    }
    let best = 0
    for (let i = 1; i < this.workers.length; i++) if (this.busy[i]! < this.busy[best]!) best = i
    return best
  }

  private done(msg: { id: number; ok: Uint8Array }): void {
    const w = this.waiting.get(msg.id)
    if (!w) return
    this.waiting.delete(msg.id)
    this.busy[w.worker]!--
    this.inflight--
    for (let i = 0; i < w.resolves.length; i++) w.resolves[i]!(msg.ok[i] === 1)
  }

  private fail(index: number): void {
    // A worker that dies takes no answer with it: its checks are redone inline.
    for (const [id, w] of this.waiting) {
      if (w.worker !== index) continue
      this.waiting.delete(id)
      this.inflight--
      for (let i = 0; i < w.items.length; i++) w.resolves[i]!(crypto.verify(...w.items[i]!))
    }
    this.size = Math.max(0, this.size - 1)
  }

  async close(): Promise<void> {
    this.closed = true
    this.dispatch()
    while (this.waiting.size > 0) await new Promise((r) => setTimeout(r, 1))
    const workers = this.workers
    this.workers = []
    await Promise.all(workers.map((w) => w.terminate()))
  }
}

/** One buffer for a batch of checks, moved (not copied) to the worker. */
function pack(items: Item[]): Uint8Array {
  let size = 0
  for (const [m] of items) size += 100 + m.byteLength
  const buf = new Uint8Array(size)
  const view = new DataView(buf.buffer)
  let o = 0
  for (const [m, sig, pk] of items) {
    view.setUint32(o, m.byteLength)
    buf.set(m, o + 4)
    buf.set(sig, o + 4 + m.byteLength)
    buf.set(pk, o + 68 + m.byteLength)
    o += 100 + m.byteLength
  }
  return buf
}
