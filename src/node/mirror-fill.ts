/**
 * A mirror's first copy of a VM's log, files hyperbee and file contents, in
 * bulk. Plain hypercore replication asks, proves and stores one block at a
 * time (≈ 9,000 blocks/s here, host and mirror together); this asks the host
 * or a mirror for stretches of 1,024 blocks (wire messages 8–9), checks each
 * against the core's signed tree as an audit does (BlockFeed), and stores it
 * with one write (storeVerified). Anything the bulk copy did not bring (no
 * peer serves stretches, a peer sent other blocks) comes by plain
 * replication, which also keeps the copy live from where the bulk copy ends.
 */
import type Hypercore from 'hypercore'
import { BlockFeed } from '../audit/block-feed.js'
import { BlockCore } from '../messages/wire.js'
import { auditExtent, keepAll, type Replica } from '../audit/swarm-replica.js'
import { storeVerified } from './store-verified.js'

/** Below this many missing blocks, plain replication is as quick. */
const MIN_BULK = 2048
const STRETCH = 1024

export interface FillResult {
  /** Blocks stored from bulk stretches (log, files hyperbee and file contents). */
  bulk: number
  /** Why the bulk copy stopped short, or null. */
  failure: string | null
}

type Fetch = (core: BlockCore, start: number, end: number) => Promise<Uint8Array[]>
/** A way to ask peers for stretches, and to let it go; null when no peer answers on the VM's channel. */
type Fetcher = () => Promise<{ fetch: Fetch; release(): Promise<void> } | null>

export class MirrorFill {
  /** Resolves when the bulk part is over (replication then does the rest). */
  readonly done: Promise<FillResult>
  private stopped = false

  constructor(replica: Replica, fetcher: Fetcher, timeoutMs: number) {
    this.done = this.run(replica, fetcher, timeoutMs)
  }

  /** Stop after the stretch in hand; what is left is not a failure (a closing node says so before it closes its connections). */
  halt(): void {
    this.stopped = true
  }

  async stop(): Promise<void> {
    this.halt()
    await this.done
  }

  private async run(replica: Replica, fetcher: Fetcher, timeoutMs: number): Promise<FillResult> {
    const result: FillResult = { bulk: 0, failure: null }
    const { log, files } = await auditExtent(replica, timeoutMs).catch(() => ({ log: 0, files: 0 }))
    const dbCore = replica.drive.db.core
    const blobsCore = (await replica.drive.getBlobs()).core
    await blobsCore.update({ wait: true }).catch(() => {})
    const blobs = blobsCore.length
    // Live from where the bulk copy will end: entries logged meanwhile arrive as
    // they are logged (they count as held, for a host's `durability: 'mirror'`,
    // once the copy below them is complete).
    await keepAll(replica, { log, files, blobs })
    const missing = log - replica.log.contiguousLength + files - dbCore.contiguousLength + blobs - blobsCore.contiguousLength
    if (missing >= MIN_BULK && !this.stopped) {
      const peers = await fetcher().catch((err: Error) => { result.failure = `no peer serves stretches (${err.message})`; return null })
      if (peers) {
        try {
          const fill = async (core: Hypercore, which: BlockCore, end: number) => {
            const fork = core.fork
            const feed = new BlockFeed(core, (a, b) => peers.fetch(which, a, b), {
              end,
              stretch: STRETCH,
              timeoutMs,
              onStretch: async (start, blocks, nodes) => {
                if (this.stopped) throw new Error('the mirror is closing')
                await storeVerified(core, fork, start, blocks, nodes)
              }
            })
            for (let s = Math.floor(core.contiguousLength / STRETCH) * STRETCH; s < end && !this.stopped; s += STRETCH) {
              if (await feed.get(s) === null) break
            }
            await feed.settled()
            result.bulk += feed.verified
            if (!this.stopped) result.failure ??= feed.failure
          }
          await Promise.all([fill(replica.log, BlockCore.LOG, log), fill(dbCore, BlockCore.FILES, files), fill(blobsCore, BlockCore.BLOBS, blobs)])
        } finally {
          await peers.release()
        }
      }
    }
    // Whatever the bulk copy did not bring, replication fetches.
    if (!this.stopped) await keepAll(replica)
    return result
  }
}
