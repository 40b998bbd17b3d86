/**
 * Provisioning at will: a node started with a list of deployer keys accepts,
 * over its control channel, signed requests to deploy a script as a new VM,
 * list the VMs it hosts, and stop one (its log and files stay). The node is
 * found by its own public key on the DHT. Quotas: VMs per node, storage and
 * calls per second per VM.
 */
import c from 'compact-encoding'
import b4a from 'b4a'
import crypto from 'hypercore-crypto'
import type Protomux from 'protomux'
import { VmsError } from '../errors.js'
import { formatKey, toKey, type Identity } from '../identity.js'
import { decodeStrict, encode } from '../messages/index.js'
import { CONTROL_PROTOCOL, controlRequest, controlResponse, controlSignable, toWireError, fromWireError } from '../messages/wire.js'
import { addRequestMessages } from './request-messages.js'

export interface DeployPolicy {
  /** Caller keys allowed to deploy, list and stop. */
  allow: Uint8Array[]
  /** Most VMs this node hosts. @default 100 */
  maxVms?: number
  /** Most bytes of files one VM may hold (beyond it, calls are refused). @default 256 MiB */
  maxStorageBytes?: number
  /** Most calls per second one VM accepts. @default 1000 */
  maxCallsPerSecond?: number
}

export interface ControlHandlers {
  /** `owners`: who may upgrade the new VM (the deployer, unless the request names others; none: immutable). */
  deploy(script: string, filename: string, owners: Uint8Array[]): Promise<{ key: string }>
  ls(): Promise<Array<{ key: string; filename: string; length: number }>>
  stop(key: string): Promise<void>
}

const CLOCK_WINDOW = 5 * 60 * 1000
const MAX_SCRIPT = 1024 * 1024

/** The node's side: answer signed control requests from allowed keys. */
export function serveControl(mux: Protomux, nodeKey: Uint8Array, policy: DeployPolicy, handlers: ControlHandlers): void {
  const channel = mux.createChannel({ protocol: CONTROL_PROTOCOL, handshake: c.raw })
  if (!channel) return
  addRequestMessages(channel, controlRequest, controlResponse, 'control request', (req, reply) => {
    const refuse = (err: unknown) => reply({ id: req.id, error: toWireError(err), result: new Uint8Array(0) })
    if (!policy.allow.some((k) => b4a.equals(k, req.caller))) return refuse(new VmsError('NOT_ALLOWED', `caller ${formatKey(req.caller)} may not manage this node: start it with --allow-deploy ${formatKey(req.caller)}`))
    if (Math.abs(Date.now() - req.time) > CLOCK_WINDOW) return refuse(new VmsError('BAD_NONCE', 'the request is too old or from the future: check the clocks'))
    if (!crypto.verify(controlSignable(nodeKey, req.op, req.payload, req.time), req.signature, req.caller)) return refuse(new VmsError('BAD_SIGNATURE', 'the request\'s signature does not verify'))
    const done = (v: unknown) => reply({ id: req.id, error: null, result: b4a.from(JSON.stringify(v ?? null)) })
    let body: Record<string, unknown>
    try { body = JSON.parse(b4a.toString(req.payload)) } catch { return refuse(new VmsError('MALFORMED_REQUEST', 'the payload is not JSON')) }
    if (body === null || typeof body !== 'object') return refuse(new VmsError('MALFORMED_REQUEST', 'the payload must be a JSON object'))
    if (req.op === 'deploy') {
      if (typeof body.script !== 'string' || b4a.byteLength(body.script) > MAX_SCRIPT) return refuse(new VmsError('TOO_LARGE', `a script must be a string of at most ${MAX_SCRIPT} bytes`))
      let owners: Uint8Array[] = [req.caller]
      if (body.owners !== undefined) {
        if (!Array.isArray(body.owners) || body.owners.length > 64) return refuse(new VmsError('MALFORMED_REQUEST', 'owners must be a list of at most 64 caller keys'))
        try { owners = body.owners.map((o) => toKey(o as string)) } catch { return refuse(new VmsError('MALFORMED_REQUEST', 'an owner is a caller key (z-base-32 or hex)')) }
      }
      handlers.deploy(body.script, typeof body.filename === 'string' ? body.filename : 'script.js', owners).then(done, refuse)
    } else if (req.op === 'ls') {
      handlers.ls().then(done, refuse)
    } else if (req.op === 'stop') {
      handlers.stop(String(body.key)).then(done, refuse)
    } else {
      refuse(new VmsError('MALFORMED_REQUEST', `unknown operation ${req.op}`))
    }
  }, { answerFirst: true })
  channel.open(b4a.alloc(0))
}

/** The deployer's side: one signed request, one answer. */
export function controlCall(mux: Protomux, nodeKey: Uint8Array, identity: Identity, op: string, payload: unknown, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const channel = mux.createChannel({ protocol: CONTROL_PROTOCOL, handshake: c.raw })
    if (!channel) { reject(new VmsError('CONNECTION_LOST', 'cannot open the control channel')); return }
    const timer = setTimeout(() => { channel.close(); reject(new VmsError('TIMEOUT', `the node did not answer ${op} within ${timeoutMs} ms`)) }, timeoutMs)
    // The same message order as the node's: 0 answers, 1 requests.
    channel.addMessage({
      encoding: c.raw,
      onmessage(raw: Uint8Array) {
        clearTimeout(timer)
        channel.close()
        let res
        try { res = decodeStrict(controlResponse, raw, 'control response') } catch (err) { reject(err); return }
        if (res.error) { reject(fromWireError(res.error)); return }
        try { resolve(JSON.parse(b4a.toString(res.result))) } catch { reject(new VmsError('MALFORMED_REQUEST', 'the node\'s answer is not JSON: is it a vms-node?')) }
      }
    })
    const requests = channel.addMessage({ encoding: c.raw, onmessage: () => {} })
    channel.open(b4a.alloc(0))
    const body = b4a.from(JSON.stringify(payload ?? {}))
    const time = Date.now()
    const signature = crypto.sign(controlSignable(nodeKey, op, body, time), identity.secretKey)
    requests.send(encode(controlRequest, { id: 1, op, payload: body, caller: identity.publicKey, time, signature }))
  })
}
