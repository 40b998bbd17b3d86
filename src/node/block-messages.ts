/**
 * Messages 8–9 of a VM channel on a host's or a mirror's side: hand out a
 * stretch of the log's, the files hyperbee's or the file contents' blocks in
 * one answer. A volunteer's audit (log and hyperbee) and a new mirror's first
 * copy (all three) fetch this way instead of block by block (hypercore
 * replication proves each block on its own: ≈ 6,000 blocks/s here), and
 * check each stretch against the core's signed tree themselves, so nothing
 * here is taken on trust.
 */
import type Hypercore from 'hypercore'
import type { Channel } from 'protomux'
import { VmsError } from '../errors.js'
import { BlockCore, blocksRequest, blocksResponse, toWireError } from '../messages/wire.js'
import { addRequestMessages } from './request-messages.js'

/** Most blocks in one answer. */
export const MAX_BLOCKS_PER_ANSWER = 1024
/** An answer stops before it grows past this (it always carries at least one block). */
export const MAX_ANSWER_BYTES = 1024 * 1024
/** Most unanswered block requests per channel; more are answered QUEUE_FULL. */
const MAX_PENDING = 16

export interface BlockSources { log: Hypercore; files: Hypercore; blobs: Hypercore }

export function addBlockMessages(channel: Channel, sources: () => Promise<BlockSources>): void {
  let pending = 0
  addRequestMessages(channel, blocksRequest, blocksResponse, 'blocks request', (req, reply) => {
    const fail = (err: unknown) => reply({ id: req.id, start: req.start, blocks: [], error: toWireError(err) })
    if (req.core !== BlockCore.LOG && req.core !== BlockCore.FILES && req.core !== BlockCore.BLOBS) return fail(new VmsError('MALFORMED_REQUEST', `no core ${req.core}: ask for the log (0), the files hyperbee (1) or the file contents (2)`))
    if (pending >= MAX_PENDING) return fail(new VmsError('QUEUE_FULL', `${pending} block requests in flight on this connection: wait for answers`))
    pending++
    Promise.resolve()
      .then(async () => { const s = await sources(); return readStretch(req.core === BlockCore.LOG ? s.log : req.core === BlockCore.FILES ? s.files : s.blobs, req.start, req.end) })
      .then((blocks) => reply({ id: req.id, start: req.start, blocks, error: null }), fail)
      .finally(() => { pending-- })
  })
}

/** Consecutive blocks from `start` that this peer holds, up to `end` and one answer's limits. */
async function readStretch(core: Hypercore, start: number, end: number): Promise<Uint8Array[]> {
  const held = core.writable ? core.length : core.contiguousLength
  const stop = Math.min(end, held, start + MAX_BLOCKS_PER_ANSWER)
  const out: Uint8Array[] = []
  if (start >= stop) return out
  let bytes = 0
  const storage = (core as unknown as { state: { storage: { createBlockStream(o: { gte: number; lt: number }): AsyncIterable<{ index: number; value: Uint8Array }> } } }).state.storage
  for await (const { index, value } of storage.createBlockStream({ gte: start, lt: stop })) {
    if (index !== start + out.length) break // a gap: what came so far is consecutive
    if (out.length > 0 && bytes + value.byteLength > MAX_ANSWER_BYTES) break
    out.push(value)
    bytes += value.byteLength
  }
  return out
}
