/**
 * A core's blocks fetched in bulk stretches (wire messages 8–9) instead of
 * block by block, each stretch verified before anything reads it: its blocks
 * extend the Merkle roots of everything before them, and the tree hash they
 * give must be the one the core's owner signed at the stretch's end (which
 * hypercore proves with one ordinary block fetch). A peer that sends other
 * blocks is caught there; the feed then gives up and the reader falls back to
 * plain hypercore replication. Reads ahead a few stretches; keeps only the
 * stretches around the reader.
 */
import b4a from 'b4a'
import type Hypercore from 'hypercore'
import type { TreeNode } from 'hypercore-crypto'
import { MerkleRoots } from '../merkle.js'
import { rootsOfCore } from '../merkle-core.js'

export interface BlockFeedOptions {
  /** One past the last block this feed serves (at most the core's verified length). */
  end: number
  /** Blocks per stretch. @default 1024 */
  stretch?: number
  /** Stretches fetched ahead of the reader. @default 4 */
  ahead?: number
  timeoutMs?: number
  /** Called as stretches check out, with how far the feed has verified. */
  onVerified?: (upTo: number) => void
  /**
   * Each stretch once it checked out, in order, with the tree nodes its blocks
   * make (leaves, then parents as they complete): a mirror stores them. The
   * next stretch waits for it; if it throws, the feed gives up.
   */
  onStretch?: (start: number, blocks: Uint8Array[], nodes: TreeNode[]) => Promise<void>
}

type Fetch = (start: number, end: number) => Promise<Uint8Array[]>

/** Empty answers in a row (peers that do not hold a stretch) before a feed gives up on it. */
const MAX_EMPTY = 8

export class BlockFeed {
  /** Why the feed gave up (then every read falls back to the core), or null. */
  failure: string | null = null
  /** Blocks fetched and verified in bulk. */
  verified = 0
  private core: Hypercore
  private fetch: Fetch
  /** One past the last block this feed serves. */
  readonly end: number
  private size: number
  private ahead: number
  private timeoutMs: number
  private onVerified: (upTo: number) => void
  private onStretch: BlockFeedOptions['onStretch']
  /** First stretch fetched (the first one read); roots are chained from its start. */
  private base = -1
  private next = 0
  private stretches = new Map<number, Promise<Uint8Array[] | null>>()
  private roots: Promise<MerkleRoots | null> = Promise.resolve(null)

  constructor(core: Hypercore, fetch: Fetch, opts: BlockFeedOptions) {
    this.core = core
    this.fetch = fetch
    this.end = opts.end
    this.size = opts.stretch ?? 1024
    this.ahead = opts.ahead ?? 4
    this.timeoutMs = opts.timeoutMs ?? 15000
    this.onVerified = opts.onVerified ?? (() => {})
    this.onStretch = opts.onStretch
  }

  /** Block `index`, verified; null if this feed cannot give it (read it from the core instead). */
  async get(index: number): Promise<Uint8Array | null> {
    if (this.failure !== null || index < 0 || index >= this.end) return null
    const s = Math.floor(index / this.size)
    if (!this.stretches.has(s)) {
      // Behind where the feed started, or let go: the reader asks the core.
      if (this.base !== -1 && s < this.next) return null
      // The first read, or a jump past what is coming (a stretch audit reads
      // the genesis, then its checkpoint): the chain of roots starts here.
      if (this.base === -1 || s > this.next + this.ahead) {
        this.base = this.next = s
        this.roots = this.rootsAt(s * this.size)
      }
    }
    while (this.next <= s + this.ahead && this.next * this.size < this.end) this.request(this.next++)
    // Stretches well behind the reader are let go.
    for (const k of this.stretches.keys()) if (k < s - 1) this.stretches.delete(k)
    const blocks = await this.stretches.get(s)
    return blocks?.[index - s * this.size] ?? null
  }

  private request(s: number): void {
    const start = s * this.size
    const end = Math.min(this.end, start + this.size)
    const blocks = this.collect(start, end)
    blocks.catch(() => {})
    // Verified in order: each stretch extends the roots the one before it left.
    const verified = this.roots.then(async (roots) => {
      if (!roots) return null
      let got: Uint8Array[]
      try {
        got = await blocks
      } catch (err) {
        return this.fail(`blocks ${start}–${end - 1}: ${(err as Error).message}`)
      }
      const next = roots.clone()
      const nodes: TreeNode[] | undefined = this.onStretch ? [] : undefined
      for (const b of got) next.append(b, nodes)
      const signed = await this.signedTreeHash(end).catch((err: Error) => err)
      if (signed instanceof Error) return this.fail(`the signed tree at ${end}: ${signed.message}`)
      if (!b4a.equals(next.hash(), signed)) return this.fail(`blocks ${start}–${end - 1} are not the ones the core's owner signed`)
      if (this.onStretch) {
        try {
          await this.onStretch(start, got, nodes!)
        } catch (err) {
          return this.fail(`storing blocks ${start}–${end - 1}: ${(err as Error).message}`)
        }
      }
      this.verified += got.length
      this.onVerified(end)
      return { roots: next, got }
    })
    this.roots = verified.then((v) => v?.roots ?? null)
    this.stretches.set(s, verified.then((v) => v?.got ?? null))
  }

  /** Resolves once every stretch asked for so far has been checked (or the feed gave up). */
  async settled(): Promise<void> {
    await this.roots
  }

  /** A whole stretch, asked for again from where an answer stopped short. */
  private async collect(start: number, end: number): Promise<Uint8Array[]> {
    const out: Uint8Array[] = []
    let busy = 0
    let empty = 0
    while (start + out.length < end) {
      let got: Uint8Array[]
      try {
        got = await this.fetch(start + out.length, end)
      } catch (err) {
        // A peer with enough requests of ours in hand says so, or a peer went away
        // before it answered: ask again shortly (another peer, if there is one).
        const code = (err as { code?: string }).code
        if ((code !== 'QUEUE_FULL' && code !== 'CONNECTION_LOST') || ++busy > 50) throw err
        await new Promise((r) => setTimeout(r, 20))
        continue
      }
      if (got.length === 0) {
        // That peer does not hold them (a mirror still catching up): the next request goes to the next peer.
        if (++empty > MAX_EMPTY) throw new Error(`no peer holds blocks from ${start + out.length}`)
        continue
      }
      empty = 0
      for (const b of got) out.push(b)
    }
    if (out.length > end - start) out.length = end - start
    return out
  }

  /** The core's tree hash at `length`, as its owner signed it (hypercore fetches the proof). */
  private async signedTreeHash(length: number): Promise<Uint8Array> {
    return (await rootsOfCore(this.core, length, this.timeoutMs)).hash()
  }

  private rootsAt(length: number): Promise<MerkleRoots | null> {
    return rootsOfCore(this.core, length, this.timeoutMs).catch((err: Error) => this.fail(`the tree at ${length}: ${err.message}`))
  }

  private fail(reason: string): null {
    if (this.failure !== null) return null
    this.failure = reason
    // The reader now reads block by block from the core: have hypercore fetch the rest meanwhile.
    try {
      this.core.download({ start: Math.max(0, this.base) * this.size, end: this.end })
    } catch {}
    return null
  }
}
