/**
 * The gateway: a node that also serves web pages, over HTTP and WebSocket,
 * and relays what they ask over the swarm (a browser cannot join it: no UDP).
 * It holds no caller's keys: pages sign their calls, and check the receipts
 * and log proofs it relays against the VM key themselves (vms-node/browser).
 * It listens on loopback unless told otherwise, and takes WebSockets from its
 * own origin unless given others.
 */
import { createServer, type Server, type IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import ReadyResource from 'ready-resource'
import b4a from 'b4a'
import { WebSocketServer, type WebSocket } from 'ws'
import { VmsError } from '../errors.js'
import type { VmsNode } from '../node/vms-node.js'
import type { VmHandle } from '../client/vm-handle.js'
import { GATEWAY_PROTOCOL } from '../messages/gateway.js'
import { GatewaySession, DEFAULT_GATEWAY_LIMITS, type GatewayLimits, type VmPool } from './session.js'
import { serveStatic } from './static-files.js'

export interface GatewayOptions {
  /** @default 8080 (0: any free port) */
  port?: number
  /** @default '127.0.0.1' (loopback only) */
  host?: string
  /**
   * Origins whose pages may open a WebSocket ('https://app.example'), or '*'
   * for any. Its own origin always may. Requests with no Origin (not a
   * browser) are let through: the origin check protects pages' users, not
   * the gateway.
   */
  origins?: string[]
  /** A folder of pages to serve at `/` (a web app that calls VMs). */
  pages?: string
  limits?: Partial<GatewayLimits>
  /** A VM no socket uses is let go after this long (ms). @default 60,000 */
  vmIdleMs?: number
}

export class Gateway extends ReadyResource {
  readonly node: VmsNode
  private opts: GatewayOptions
  private limits: GatewayLimits
  private server: Server | null = null
  private wss: WebSocketServer | null = null
  private sessions = new Set<GatewaySession>()
  private perAddress = new Map<string, number>()
  private pool: HandlePool

  constructor(node: VmsNode, opts: GatewayOptions = {}) {
    super()
    if (opts.port !== undefined && !(Number.isInteger(opts.port) && opts.port >= 0 && opts.port <= 65535)) throw new VmsError('BAD_OPTION', `port must be 0 to 65535, not ${String(opts.port)}`)
    if (opts.origins !== undefined && (!Array.isArray(opts.origins) || !opts.origins.every((o) => o === '*' || /^https?:\/\/[^/\s]+$/.test(o)))) {
      throw new VmsError('BAD_OPTION', 'origins are scheme://host[:port] (say http://localhost:3000), or *')
    }
    this.node = node
    this.opts = opts
    this.limits = { ...DEFAULT_GATEWAY_LIMITS, ...opts.limits }
    this.pool = new HandlePool(node, opts.vmIdleMs ?? 60_000)
  }

  /** Where it listens, once ready: http://host:port (pages at /, the explorer at /vm/<key>, WebSocket at the same address). */
  get url(): string {
    const addr = this.server?.address()
    if (!addr || typeof addr === 'string') return ''
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
    return `http://${host}:${addr.port}`
  }

  get port(): number {
    const addr = this.server?.address()
    return addr && typeof addr === 'object' ? addr.port : 0
  }

  /** Sockets open now. */
  get sockets(): number { return this.sessions.size }

  protected override async _open(): Promise<void> {
    await this.node.ready()
    const server = this.server = createServer((req, res) => {
      serveStatic(req, res, this.opts.pages ?? null).catch(() => { if (!res.headersSent) res.writeHead(500); res.end() })
    })
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.limits.maxFrameBytes,
      perMessageDeflate: false,
      handleProtocols: (protocols) => protocols.has(GATEWAY_PROTOCOL) ? GATEWAY_PROTOCOL : false
    })
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head))
    server.on('clientError', (_err, socket) => socket.destroy())
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(new VmsError('BAD_OPTION', err.code === 'EADDRINUSE' ? `port ${this.opts.port ?? 8080} is in use: pick another with --port` : `cannot listen: ${err.message}`)))
      server.listen(this.opts.port ?? 8080, this.opts.host ?? '127.0.0.1', () => resolve())
    })
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refuse = (status: number, why: string) => {
      socket.end(`HTTP/1.1 ${status} ${why}\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(why)}\r\n\r\n${why}`)
    }
    if (this.closing || !this.wss) return refuse(503, 'closing')
    const origin = req.headers.origin
    if (origin !== undefined && !this.allowed(origin, req.headers.host)) return refuse(403, `origin ${origin} is not allowed: start the gateway with --origin ${origin}`)
    if (this.sessions.size >= this.limits.maxSockets) return refuse(503, 'too many sockets')
    const address = req.socket.remoteAddress ?? ''
    if ((this.perAddress.get(address) ?? 0) >= this.limits.maxSocketsPerAddress) return refuse(429, 'too many sockets from this address')
    this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1)
      const session: GatewaySession = new GatewaySession(ws, this.pool, this.limits, () => {
        this.sessions.delete(session)
        const n = (this.perAddress.get(address) ?? 1) - 1
        if (n <= 0) this.perAddress.delete(address)
        else this.perAddress.set(address, n)
      })
      this.sessions.add(session)
    })
  }

  private allowed(origin: string, host: string | undefined): boolean {
    const origins = this.opts.origins ?? []
    if (origins.includes('*') || origins.includes(origin)) return true
    // Its own origin: the page came from this gateway.
    return host !== undefined && (origin === `http://${host}` || origin === `https://${host}`)
  }

  protected override async _close(): Promise<void> {
    for (const s of [...this.sessions]) s.close()
    this.wss?.close()
    await new Promise<void>((resolve) => {
      if (!this.server) return resolve()
      this.server.close(() => resolve())
      this.server.closeAllConnections()
    })
    await this.pool.close()
  }
}

/** Handles of dialled VMs, shared by the sockets, let go a while after the last one stops using it. */
class HandlePool implements VmPool {
  private vms = new Map<string, { handle: Promise<VmHandle>; users: number; timer: NodeJS.Timeout | null }>()
  private closed = false

  constructor(private node: VmsNode, private idleMs: number) {}

  acquire(key: Uint8Array): Promise<VmHandle> {
    if (this.closed) return Promise.reject(new VmsError('CLOSED', 'the gateway is closing'))
    const hex = b4a.toString(key, 'hex')
    let vm = this.vms.get(hex)
    if (!vm) {
      const handle = this.node.dial(key) as Promise<VmHandle>
      vm = { handle, users: 0, timer: null }
      this.vms.set(hex, vm)
      // Not reachable now: forgotten, so the next page tries again.
      handle.catch(() => { if (this.vms.get(hex)?.handle === handle) this.vms.delete(hex) })
    }
    if (vm.timer) { clearTimeout(vm.timer); vm.timer = null }
    vm.users++
    return vm.handle
  }

  release(key: Uint8Array): void {
    const hex = b4a.toString(key, 'hex')
    const vm = this.vms.get(hex)
    if (!vm || --vm.users > 0) return
    vm.timer = setTimeout(() => {
      if (this.vms.get(hex) !== vm || vm.users > 0) return
      this.vms.delete(hex)
      vm.handle.then((h) => h.close(), () => {})
    }, this.idleMs)
    vm.timer.unref?.()
  }

  async close(): Promise<void> {
    this.closed = true
    const all = [...this.vms.values()]
    this.vms.clear()
    for (const vm of all) if (vm.timer) clearTimeout(vm.timer)
    await Promise.all(all.map((vm) => vm.handle.then((h) => h.close(), () => {})))
  }
}
