/**
 * The host's side of a VM channel on one connection: prove the log key,
 * take requests, answer with results and receipts. Nothing a peer sends can
 * throw out of here: malformed frames close this channel only, and limits
 * per channel answer QUEUE_FULL instead of buffering without bound.
 */
import c from 'compact-encoding'
import { sendBatched } from './batched-send.js'
import crypto from 'hypercore-crypto'
import type Protomux from 'protomux'
import type { Connection } from 'hyperswarm'
import { VmsError } from '../errors.js'
import type { VmHost } from '../host/vm-host.js'
import { decodeStrict, encode } from '../messages/index.js'
import { PROTOCOL, Role, hello, request, response, proofSignable, toWireError, type Response } from '../messages/wire.js'
import { addAttestationMessages } from './attestation-messages.js'
import { addHeadExchange, type Equivocation } from './head-exchange.js'
import { addViewMessages } from './view-messages.js'
import { addBlockMessages } from './block-messages.js'
import { addFilesStateMessages } from './files-state-messages.js'
import { addUpgradeMessages } from './upgrade-messages.js'
import type { ViewRunner } from '../host/view-runner.js'
import type { Quota } from './quota.js'
import type { AttestationBook } from './attestation-book.js'

/** Most requests one channel may have unanswered. */
export const MAX_INFLIGHT_PER_CHANNEL = 256
/** Most request bytes one channel may have unanswered. */
export const MAX_INFLIGHT_BYTES_PER_CHANNEL = 8 * 1024 * 1024
/** Largest request frame accepted, beyond the VM's args limit. */
const FRAME_SLACK = 1024

export function openHostChannel(mux: Protomux, conn: Connection, host: VmHost, book: AttestationBook, onEquivocation: (e: Equivocation) => void, views: () => ViewRunner | null, quota: Quota | null = null): void {
  let inflight = 0
  let inflightBytes = 0
  const channel = mux.createChannel({
    protocol: PROTOCOL,
    id: host.key,
    handshake: c.raw,
    onopen(raw: Uint8Array) {
      try {
        decodeStrict(hello, raw, 'hello')
      } catch {
        channel!.close()
        return
      }
      heads.sendHead().catch(() => {})
    }
  })
  if (!channel) return
  // Message 0: requests (in), message 1: responses (out) — the same order on both sides.
  channel.addMessage({
    encoding: c.raw,
    onmessage(raw: Uint8Array) {
      if (raw.byteLength > host.limits.maxArgsBytes + FRAME_SLACK) {
        // Answered with the request's id (its first field), so the caller's call fails at once.
        return reply({ id: requestId(raw), error: toWireError(new VmsError('TOO_LARGE', `the request is ${raw.byteLength} bytes; this VM accepts args of at most ${host.limits.maxArgsBytes}`)), value: EMPTY, receipt: null })
      }
      let req
      try {
        req = decodeStrict(request, raw, 'request')
      } catch {
        channel.close() // a peer that sends garbage loses this channel, nothing else
        return
      }
      if (inflight >= MAX_INFLIGHT_PER_CHANNEL || inflightBytes + raw.byteLength > MAX_INFLIGHT_BYTES_PER_CHANNEL) {
        return reply({ id: req.id, error: toWireError(new VmsError('QUEUE_FULL', `${inflight} calls (${inflightBytes} bytes) in flight on this connection: wait for answers`)), value: EMPTY, receipt: null })
      }
      const over = quota?.check()
      if (over) return reply({ id: req.id, error: toWireError(over), value: EMPTY, receipt: null })
      inflight++
      inflightBytes += raw.byteLength
      const size = raw.byteLength
      host.call(req.call).then(
        (answer) => reply({ id: req.id, error: null, value: answer.value, receipt: answer.receipt }),
        (err) => reply({ id: req.id, error: toWireError(err), value: EMPTY, receipt: (err as { receipt?: Response['receipt'] }).receipt ?? null })
      ).finally(() => { inflight--; inflightBytes -= size })
    }
  })
  const responses = channel.addMessage({ encoding: c.raw, onmessage: () => channel.close() })
  addAttestationMessages(channel, book)
  const heads = addHeadExchange(channel, host.key, host.log, onEquivocation)
  addViewMessages(channel, views)
  addBlockMessages(channel, async () => ({ log: host.log, files: host.drive.db.core, blobs: (await host.drive.getBlobs()).core }))
  addFilesStateMessages(channel, (query) => host.filesStatement(query))
  addUpgradeMessages(channel, (u) => host.upgrade(u))

  function reply(res: Response): void {
    if (channel!.closed) return
    try {
      sendBatched(channel!, responses, encode(response, res))
    } catch {
      channel!.close()
    }
  }

  const log = host.log
  const proof = crypto.sign(proofSignable(conn.handshakeHash, host.key), log.keyPair!.secretKey)
  channel.open(encode(hello, {
    role: Role.HOST,
    signer: log.keyPair!.publicKey,
    proof,
    info: { methods: host.methods, views: host.views, filesKey: host.drive.key, length: log.length, oracles: host.genesis!.oracles, script: { version: host.script.version, hash: host.script.hash, at: host.script.index } }
  }))
}

const EMPTY = new Uint8Array(0)

function requestId(raw: Uint8Array): number {
  try { return c.uint.decode(c.state(0, raw.byteLength, raw)) } catch { return 0 }
}
