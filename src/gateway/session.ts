/**
 * One web page's WebSocket at the gateway: frames in, relayed over the swarm
 * by the gateway's node, frames out. Bounded per socket: requests in flight,
 * watches, VMs, a log page's entries, idle time; a frame that does not decode
 * closes this socket only (1007), a text frame too (1003), a frame over the
 * size limit too (1009, by ws). Holds no caller's keys: calls arrive signed.
 */
import type { WebSocket } from 'ws'
import b4a from 'b4a'
import { VmsError } from '../errors.js'
import { decodeStrict, encode } from '../messages/index.js'
import { frame, FrameType, type Frame } from '../messages/gateway.js'
import { toWireError } from '../messages/wire.js'
import { canonicalDecode, canonicalEncode } from '../canonical-json.js'
import type { VmHandle } from '../client/vm-handle.js'

export interface GatewayLimits {
  /** Sockets open at once, in all. @default 512 */
  maxSockets: number
  /** Sockets open at once from one remote address. @default 64 */
  maxSocketsPerAddress: number
  /** Requests in flight on one socket; more are answered QUEUE_FULL. @default 64 */
  maxInflight: number
  /** Largest frame a page may send (bytes); a larger one closes the socket (1009). @default 1 MiB */
  maxFrameBytes: number
  /** A socket that sends nothing this long is closed (ms). @default 300,000 */
  idleMs: number
  /** Watches on one socket. @default 16 */
  maxWatches: number
  /** VMs one socket may use. @default 64 */
  maxVms: number
  /** Entries in one log page. @default 256 */
  maxLogEntries: number
  /** Bytes queued for a page that does not read; past it the socket is closed. @default 16 MiB */
  maxBufferedBytes: number
}

export const DEFAULT_GATEWAY_LIMITS: GatewayLimits = {
  maxSockets: 512,
  maxSocketsPerAddress: 64,
  maxInflight: 64,
  maxFrameBytes: 1024 * 1024,
  idleMs: 300_000,
  maxWatches: 16,
  maxVms: 64,
  maxLogEntries: 256,
  maxBufferedBytes: 16 * 1024 * 1024
}

/** The VMs the gateway has dialled, shared by its sockets: each socket acquires a VM once and releases it when it closes. */
export interface VmPool {
  acquire(key: Uint8Array): Promise<VmHandle>
  release(key: Uint8Array): void
}

const FILE_OPS = new Set(['readdir', 'readFile', 'stat'])

export class GatewaySession {
  private inflight = 0
  private watches = new Map<number, () => void>()
  /** The VMs this socket used, by key (hex): each acquired from the pool once, released when the socket closes. */
  private vms = new Map<string, Promise<VmHandle>>()
  private idle: NodeJS.Timeout | null = null
  private closed = false

  constructor(private ws: WebSocket, private pool: VmPool, private limits: GatewayLimits, private onClose: () => void) {
    ws.binaryType = 'nodebuffer'
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onMessage(data, isBinary))
    ws.on('close', () => this.cleanup())
    ws.on('error', () => this.cleanup())
    this.touch()
  }

  close(code = 1001, reason = 'the gateway is closing'): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(code, reason)
    this.cleanup()
  }

  private cleanup(): void {
    if (this.closed) return
    this.closed = true
    if (this.idle) clearTimeout(this.idle)
    for (const stop of this.watches.values()) stop()
    this.watches.clear()
    for (const hex of this.vms.keys()) this.pool.release(b4a.from(hex, 'hex'))
    this.vms.clear()
    this.onClose()
  }

  private touch(): void {
    if (this.idle) clearTimeout(this.idle)
    this.idle = setTimeout(() => this.close(1000, `idle for ${this.limits.idleMs} ms`), this.limits.idleMs)
    this.idle.unref?.()
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this.closed) return
    this.touch()
    if (!isBinary) return this.close(1003, 'the gateway takes binary frames only (see vms-node/browser)')
    let req: Frame
    try {
      req = decodeStrict(frame, data, 'gateway frame')
    } catch (err) {
      return this.close(1007, `malformed frame: ${(err as Error).message}`.slice(0, 120))
    }
    if (req.type % 2 === 0 || req.type === FrameType.ERROR) return this.close(1007, `frame type ${req.type} is an answer, not a request`)
    if (this.inflight >= this.limits.maxInflight) return this.fail(req.id, new VmsError('QUEUE_FULL', `${this.inflight} requests in flight on this socket (at most ${this.limits.maxInflight}): wait for their answers`))
    this.inflight++
    this.handle(req).then(
      (answer) => { if (answer) this.send(answer) },
      (err) => this.fail(req.id, err)
    ).finally(() => { this.inflight-- })
  }

  private fail(id: number, err: unknown): void {
    const receipt = (err as { receipt?: unknown }).receipt
    this.send({ type: FrameType.ERROR, id, error: toWireError(err), receipt: receipt && typeof receipt === 'object' ? receipt as never : null })
  }

  private send(f: Frame): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return
    if (this.ws.bufferedAmount > this.limits.maxBufferedBytes) return this.close(1008, 'the page does not read its answers')
    this.ws.send(encode(frame, f))
  }

  private vm(key: Uint8Array): Promise<VmHandle> {
    const hex = b4a.toString(key, 'hex')
    let handle = this.vms.get(hex)
    if (!handle) {
      if (this.vms.size >= this.limits.maxVms) return Promise.reject(new VmsError('QUOTA_EXCEEDED', `this socket uses ${this.vms.size} VMs, its limit: open another`))
      handle = this.pool.acquire(key)
      this.vms.set(hex, handle)
      // One that could not be dialled is tried afresh next time.
      handle.catch(() => { if (this.vms.get(hex) === handle) { this.vms.delete(hex); this.pool.release(key) } })
    }
    return handle
  }

  private async handle(req: Frame): Promise<Frame | null> {
    switch (req.type) {
      case FrameType.INFO: {
        const h = await this.vm(req.vm)
        const info = await h.info()
        const genesis = await h.logProof(0, 1)
        const current = info.history[info.history.length - 1]!
        const script = current.from > 0 ? await h.logProof(current.from, current.from + 1) : null
        return { type: FrameType.INFO_OK, id: req.id, info: { methods: info.methods, views: info.views, length: info.length, host: info.host, genesis, script } }
      }
      case FrameType.CALL: {
        const h = await this.vm(req.vm)
        const { receipt } = await h.send(req.call)
        return { type: FrameType.CALL_OK, id: req.id, receipt }
      }
      case FrameType.VIEW: {
        const h = await this.vm(req.vm)
        let args: unknown
        try { args = canonicalDecode(req.args) } catch { throw new VmsError('MALFORMED_REQUEST', 'a view\'s args are canonical JSON of an array') }
        if (!Array.isArray(args)) throw new VmsError('MALFORMED_REQUEST', 'a view\'s args are an array')
        const { result, length } = await h.view(req.method, ...args)
        return { type: FrameType.VIEW_OK, id: req.id, value: canonicalEncode(result ?? null, this.limits.maxBufferedBytes), length }
      }
      case FrameType.FILES: {
        if (!FILE_OPS.has(req.op)) throw new VmsError('MALFORMED_REQUEST', `files ops are ${[...FILE_OPS].join(', ')}; not ${req.op.slice(0, 32)}`)
        const h = await this.vm(req.vm)
        const files = h.files
        if (req.op === 'readFile') return { type: FrameType.FILES_OK, id: req.id, value: await files.readFile(req.path) as Uint8Array }
        const value = req.op === 'readdir' ? await files.readdir(req.path) : await files.stat(req.path)
        return { type: FrameType.FILES_OK, id: req.id, value: b4a.from(JSON.stringify(value)) }
      }
      case FrameType.LOG: {
        if (req.to <= req.from) throw new VmsError('MALFORMED_REQUEST', `no entries from ${req.from} to ${req.to}`)
        if (req.to - req.from > this.limits.maxLogEntries) throw new VmsError('TOO_LARGE', `at most ${this.limits.maxLogEntries} entries a page; asked ${req.to - req.from}`)
        const h = await this.vm(req.vm)
        return { type: FrameType.LOG_OK, id: req.id, proof: await h.logProof(req.from, req.to) }
      }
      case FrameType.VOUCHERS: {
        const h = await this.vm(req.vm)
        const list = (await h.attestations(2000)).filter((a) => b4a.equals(a.vmKey, req.vm) && a.length > req.index)
        return { type: FrameType.VOUCHERS_OK, id: req.id, list: list.slice(0, 256) }
      }
      case FrameType.WATCH: {
        if (this.watches.size >= this.limits.maxWatches) throw new VmsError('QUOTA_EXCEEDED', `${this.watches.size} watches on this socket, its limit`)
        if (this.watches.has(req.id)) throw new VmsError('MALFORMED_REQUEST', `watch ${req.id} is already on`)
        const h = await this.vm(req.vm)
        let first = true
        this.watches.set(req.id, h.watchLength((length) => {
          this.send(first ? { type: FrameType.WATCH_OK, id: req.id, length } : { type: FrameType.GROWN, id: req.id, length })
          first = false
        }))
        return null
      }
      default:
        throw new VmsError('MALFORMED_REQUEST', `frame type ${req.type} is not a request`)
    }
  }
}
