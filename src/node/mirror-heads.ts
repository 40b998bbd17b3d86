/**
 * A mirror's memory of the log it holds: the latest head the host signed,
 * kept (in the node's head book) across restarts. A replica follows a
 * writer's truncation (a new fork) by itself; an honest host never truncates
 * its log, so a truncation, or a log found at start that does not extend the
 * head kept, is equivocation: the head before and the log after, both signed.
 */
import type Hypercore from 'hypercore'
import { currentHead, equivocation, headFromJson, headToJson, type HeadBook } from '../audit/head-book.js'
import type { SignedHead } from '../messages/wire.js'
import type { Equivocation } from './head-exchange.js'

/** How often a new head is written down (each append would be a write). */
const SAVE_MS = 5000

export async function watchMirrorHeads(log: Hypercore, key: Uint8Array, book: HeadBook, onEquivocation: (e: Equivocation) => void): Promise<{ close(): Promise<void> }> {
  const known = await book.get(key)
  let last: SignedHead | null = known ? headFromJson(known) : null
  if (known && await equivocation(log, known)) {
    onEquivocation({ vmKey: key, length: Math.min(known.length, log.length), ours: last, theirs: await currentHead(log), proof: null })
  }
  let saved = last
  let closed = false
  const save = async () => {
    if (last && last !== saved) { saved = last; await book.set(key, headToJson(last)).catch(() => {}) }
  }
  const onappend = () => {
    currentHead(log).then((h) => { if (h && (!last || h.length > last.length || h.fork !== last.fork)) last = h }, () => {})
  }
  const ontruncate = (to: number, fork: number) => {
    const before = last
    currentHead(log).then((now) => {
      if (closed) return
      if (before && (to < before.length || fork !== before.fork)) onEquivocation({ vmKey: key, length: to, ours: before, theirs: now, proof: null })
      if (now) last = now
    }, () => {})
  }
  log.on('append', onappend)
  log.on('truncate', ontruncate)
  onappend()
  const timer = setInterval(() => { save().catch(() => {}) }, SAVE_MS)
  timer.unref?.()
  return {
    async close() {
      closed = true
      clearInterval(timer)
      log.off('append', onappend)
      log.off('truncate', ontruncate)
      await save()
    }
  }
}
