/**
 * Hyperbee caches the blocks it decodes (keys and tree nodes): 65,536 per
 * bee by default. A put into a directory of random names (an RSVP VM's
 * callers) compares keys all over the tree: past ~50,000 files the working
 * set outgrew that cache and every put read blocks from disk, one after
 * another: `host_calls_per_s_100000_files` 1,643 /s with 65,536 entries,
 * 3,390 with 131,072, 3,766 with 262,144. An entry costs ~3 KB of memory once
 * the cache is full (heap and the block buffers it holds): a VM that big,
 * its callers answering again, settled at 737 MB of RSS with 65,536, 1.13 GB
 * with 131,072 and 1.9 GB with 262,144. A VM's own archive gets
 * DEFAULT_FILES_CACHE_ENTRIES (VmHost's `filesCacheEntries`); a small VM's
 * cache stays small whatever the size. Not through Corestore's
 * `globalCache`: the checkouts that views and replays make would leave their
 * entries in it (a checkout does not clear its cache when it closes).
 *
 * This reaches into hyperbee's internals (pinned by the lockfile); if they
 * are not as expected, nothing changes.
 */
import Rache from 'rache'
import type Hyperbee from 'hyperbee'

export const DEFAULT_FILES_CACHE_ENTRIES = 131072

export function widenBeeCache(db: Hyperbee, entries = DEFAULT_FILES_CACHE_ENTRIES): void {
  const inner = db as unknown as { _keyCache?: { keys: unknown } | null; _nodeCache?: { keys: unknown } | null }
  if (!inner._keyCache || !inner._nodeCache || !(inner._keyCache.keys instanceof Rache) || !(inner._nodeCache.keys instanceof Rache)) return
  // Keys and nodes share one size limit, as hyperbee sets them up.
  const keys = new Rache({ maxSize: entries })
  inner._keyCache.keys = keys
  inner._nodeCache.keys = Rache.from(keys)
}
