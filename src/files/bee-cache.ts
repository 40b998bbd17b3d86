/**
 * Hyperbee caches the blocks it decodes (keys and tree nodes): 65,536 per
 * bee by default. A put into a directory of random names (an RSVP VM's
 * callers) compares keys all over the tree: past ~50,000 files the working
 * set outgrew that cache and every put read blocks from disk, one after
 * another (a host's calls per second fell from ~4,000 to ~1,800 by 100,000
 * files; with room for 262,144 it stayed at 3,000–4,500). So a VM's own
 * archive gets that room (an entry takes ~1 KB of heap: up to ~250 MB for a
 * VM that big; a small VM's cache stays small). Not through Corestore's
 * `globalCache`: the checkouts that views and replays make would leave their
 * entries in it (a checkout does not clear its cache when it closes).
 *
 * This reaches into hyperbee's internals (pinned by the lockfile); if they
 * are not as expected, nothing changes.
 */
import Rache from 'rache'
import type Hyperbee from 'hyperbee'

export const BEE_CACHE_ENTRIES = 262144

export function widenBeeCache(db: Hyperbee): void {
  const inner = db as unknown as { _keyCache?: { keys: unknown } | null; _nodeCache?: { keys: unknown } | null }
  if (!inner._keyCache || !inner._nodeCache || !(inner._keyCache.keys instanceof Rache) || !(inner._nodeCache.keys instanceof Rache)) return
  // Keys and nodes share one size limit, as hyperbee sets them up.
  const keys = new Rache({ maxSize: BEE_CACHE_ENTRIES })
  inner._keyCache.keys = keys
  inner._nodeCache.keys = Rache.from(keys)
}
