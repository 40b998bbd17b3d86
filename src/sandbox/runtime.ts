/**
 * The code that runs inside each isolate before the script: it removes what
 * could make a call nondeterministic, installs `System`, `console`, a logged
 * `Date` and `Math.random`, and keeps the script's view of its files.
 *
 * `installRuntime` is injected as source text (`installRuntime.toString()`),
 * so it must not refer to anything outside itself: every helper lives inside.
 * It runs once per isolate and returns the functions the sandbox process calls.
 *
 * Files: the isolate keeps a cache of what it has learnt about the archive
 * (directory listings, sizes, contents it wrote). Only the host writes the
 * archive, and only through this isolate, so the cache stays true; a miss asks
 * the sandbox process (`hostRead`), which answers from the archive plus the
 * calls not yet flushed. A call's changes are undone if the call fails.
 * The cache lives in the script's heap, so it is bounded by the VM's memory
 * limit: it weighs at most CACHE_BYTES (a sixteenth of the limit; dropped whole
 * between calls when past it), and a directory is listed into it only if
 * its listing weighs at most a quarter of that (a bigger one is looked into
 * path by path; once the host has it listed, the cache takes the hashes of
 * its names and of its subdirectories', 4 bytes each, so a new name is known
 * absent, and a file is written over, without asking).
 * Unbounded, a VM whose directory grew to ~50,000 files under a 16 MB limit
 * (~400,000 under 128 MB) failed every call with MEMORY_LIMIT.
 */
/* eslint-disable */
import type { TextCodecs } from './text-codecs.js'

export function installRuntime(g: any, hostRead: any, hostLog: any, canonicalStringify: any, nameHash: (name: string) => number, codecs: TextCodecs, cfg: any): any {
  const ObjectFreeze = Object.freeze
  const ArrayIsArray = Array.isArray
  const MAX_FILE = cfg.maxFileBytes
  const MAX_RESULT = cfg.maxResultBytes
  const MAX_CONTENT_CACHE = 8 * 1024 * 1024
  // What the files cache may weigh (8 MB under a 128 MB limit: ~30,000 paths), and a listing it keeps.
  const CACHE_BYTES = Math.max(256 * 1024, Math.floor((cfg.memoryMb || 128) * 1024 * 1024 / 16))
  const LISTING_BYTES = CACHE_BYTES >> 2
  /** Rows asked for at most in a listing for the cache (each weighs at least 256 bytes). */
  const MAX_LISTED = LISTING_BYTES >> 8
  /** Heap a cached path takes, about: its string twice (the path, its name in a listing; two bytes a char at worst), a node and map entries. */
  const weight = (p: string) => 2 * p.length + 200
  /** Names of one directory kept as hashes at most (4 bytes each: a quarter of the cache). */
  const MAX_NAMES = LISTING_BYTES >> 2
  const READ_ONLY = !!cfg.readOnly
  /** Sandbox API version 1 (the genesis says): readFile gives bytes, and no DatArchive options. See SANDBOX_API_VERSION. */
  const V1 = cfg.apiVersion === 1
  // A view's isolate runs `init` as any load does (its writes stay in this isolate); the view itself may not write.
  let loading = false

  for (const name of ['WeakRef', 'FinalizationRegistry', 'SharedArrayBuffer', 'Atomics', 'WebAssembly']) {
    delete g[name]
  }

  // ---- logged time -----------------------------------------------------------
  let now = 0
  const RealDate = g.Date
  function VmDate(this: any, ...args: any[]) {
    if (!new.target) return new RealDate(now).toString()
    return args.length === 0 ? new RealDate(now) : new (RealDate as any)(...args)
  }
  VmDate.prototype = RealDate.prototype
  VmDate.now = () => now
  VmDate.parse = RealDate.parse
  VmDate.UTC = RealDate.UTC
  Object.defineProperty(RealDate.prototype, 'constructor', { value: VmDate, writable: true, configurable: true })
  g.Date = VmDate

  // ---- logged randomness (sfc32 seeded with the call's 16 logged bytes) --------
  let a = 0, b = 0, c = 0, d = 0
  function seedRandom(s: number[]) {
    a = (s[0]! | (s[1]! << 8) | (s[2]! << 16) | (s[3]! << 24)) >>> 0
    b = (s[4]! | (s[5]! << 8) | (s[6]! << 16) | (s[7]! << 24)) >>> 0
    c = (s[8]! | (s[9]! << 8) | (s[10]! << 16) | (s[11]! << 24)) >>> 0
    d = (s[12]! | (s[13]! << 8) | (s[14]! << 16) | (s[15]! << 24)) >>> 0
    for (let i = 0; i < 12; i++) random()
  }
  function random() {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0
    let t = (a + b) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    d = (d + 1) | 0
    t = (t + d) | 0
    c = (c + t) | 0
    return (t >>> 0) / 4294967296
  }
  g.Math.random = random

  // ---- console -> host log output ----------------------------------------------
  function show(v: any): string {
    if (typeof v === 'string') return v
    try { const s = JSON.stringify(v); return s === undefined ? String(v) : s } catch { return String(v) }
  }
  const console: any = {}
  for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
    console[level] = (...args: any[]) => { hostLog.applyIgnored(undefined, [level, args.map(show).join(' ')]) }
  }
  g.console = ObjectFreeze(console)

  const { utf8Encode, utf8Decode, toHex, fromHex, toBase64, fromBase64 } = codecs

  // ---- files -----------------------------------------------------------------------
  type Node = { kind: 'file' | 'dir'; size: number; mtime: number; marker: boolean }
  const known = new Map<string, Node | null>()     // path -> node, null = known absent
  const listed = new Map<string, Set<string>>()     // dir -> names, for dirs fully known
  const bigDirs = new Set<string>()                 // dirs too big to list into the cache (more than MAX_LISTED entries, or LISTING_BYTES)
  const deletedNow = new Map<string, number>()      // dir -> entries the running call deleted from it
  let knownBytes = 0                                 // what `known` (and the listings, whose names are in it) weighs
  // Big directories' names as hashes, sorted, as the host had them. What this isolate changed since is
  // in `known`, looked at first (and dropped only with the hashes).
  const filters = new Map<string, { names: Int32Array; dirs: Int32Array }>()
  let filterBytes = 0
  function mayHave(a: Int32Array, name: string): boolean {
    const h = nameHash(name)
    let lo = 0, hi = a.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const v = a[mid]!
      if (v === h) return true
      if (v < h) lo = mid + 1
      else hi = mid - 1
    }
    return false
  }
  /** Take the hashes of big directory `dir`'s names from the host, if it has them at hand. */
  function fetchNames(dir: string) {
    const hashes = ask('names', dir, String(MAX_NAMES)) as { names: Int32Array; dirs: Int32Array } | null
    if (!hashes) return
    filters.set(dir, hashes)
    filterBytes += hashes.names.byteLength + hashes.dirs.byteLength + 128
  }
  function remember(p: string, n: Node | null) {
    if (!known.has(p)) knownBytes += weight(p)
    known.set(p, n)
  }
  function forget(p: string) {
    if (known.delete(p)) knownBytes -= weight(p)
  }
  const content = new Map<string, Uint8Array>()     // contents this isolate wrote (bounded)
  let contentBytes = 0
  let ops: any[] = []
  let undo: Array<() => void> = []
  // Results of a batch not yet handed out: they travel with the next read (the
  // host must know the writes of earlier calls before it answers a later one).
  let outbox: any[] = []
  let running = -1

  function ask(op: string, path: string, arg?: string): any {
    const out = outbox
    outbox = []
    return hostRead.applySyncPromise(undefined, [op, path, out, arg], { arguments: { copy: true } })
  }

  // ---- oracles: the host answers; the call's entry records name, input and output --------
  let oracleLog: Array<{ name: string; input: string; output: string }> = []
  const oracles: any = {}
  for (const name of (cfg.oracles || []) as string[]) {
    oracles[name] = async (...args: any[]) => {
      if (caller.id === '') throw new Error(`oracles cannot be called while the script loads (init): ${name}`)
      const input = canonicalStringify(args, MAX_RESULT)
      const output = ask('oracle', name, input === undefined ? '[]' : input) as string
      oracleLog.push({ name, input: input === undefined ? '[]' : input, output })
      const parsed = JSON.parse(output)
      if (parsed.error) {
        const err: any = new Error(`${name}: ${parsed.error.message}`)
        err.name = 'OracleError'
        err.code = parsed.error.code || 'ORACLE_FAILED'
        throw err
      }
      return parsed.ok
    }
    ObjectFreeze(oracles[name])
  }

  /** A view may not change files (its isolate's `init` may: those writes stay in the isolate). */
  function mayWrite(path: string) {
    if (READ_ONLY && !loading) throw fsError('EROFS', 'a view cannot change files', path)
  }

  function fsError(code: string, message: string, path: string) {
    const err: any = new Error(`${code}: ${message}, '${path}'`)
    err.code = code
    err.path = path
    return err
  }

  function normalize(p: any): string {
    if (typeof p !== 'string') throw new TypeError('path must be a string')
    const parts: string[] = []
    for (const seg of p.split('/')) {
      if (seg === '' || seg === '.') continue
      if (seg === '..') { parts.pop(); continue }
      parts.push(seg)
    }
    const out = '/' + parts.join('/')
    if (out.length > 4096) throw fsError('ENAMETOOLONG', 'path too long', out.slice(0, 64))
    return out
  }
  function dirname(p: string): string { const i = p.lastIndexOf('/'); return i <= 0 ? '/' : p.slice(0, i) }
  function basename(p: string): string { return p.slice(p.lastIndexOf('/') + 1) }

  function setKnown(p: string, n: Node | null) {
    const had = known.has(p), prev = known.get(p)
    undo.push(() => { if (had) known.set(p, prev!); else forget(p) })
    remember(p, n)
    if (!n && prev) { const dir = dirname(p); deletedNow.set(dir, (deletedNow.get(dir) ?? 0) + 1) }
    const names = listed.get(dirname(p))
    if (names && p !== '/') {
      const name = basename(p), was = names.has(name)
      if (n && !was) { names.add(name); undo.push(() => names.delete(name)) }
      if (!n && was) { names.delete(name); undo.push(() => names.add(name)) }
    }
  }

  /**
   * The names in `dir` as the running call sees them. Kept in the cache (with
   * each entry's node) when the directory has at most MAX_LISTED entries. With
   * `bounded`, a bigger directory is not read at all: null.
   */
  function listing(dir: string, bounded = false): Set<string> | null {
    let names = listed.get(dir)
    if (names) return names
    if (bounded && bigDirs.has(dir)) return null
    const rows = ask('list', dir, bounded ? String(MAX_LISTED) : undefined)
    if (rows === null) { bigDirs.add(dir); return null }
    let bytes = 0
    for (const row of rows) bytes += weight(row[0]) + dir.length * 2
    const keep = rows.length <= MAX_LISTED && bytes <= LISTING_BYTES
    if (!keep) bigDirs.add(dir)
    if (!keep && bounded) return null
    names = new Set<string>()
    for (const [name, kind, size, mtime, marker] of rows) {
      const p = dir === '/' ? '/' + name : dir + '/' + name
      if (known.has(p)) continue
      names.add(name)
      if (keep) remember(p, { kind, size, mtime, marker })
    }
    // What this isolate knows of a path is newer than the host's list: the
    // running call's own changes reach the host only with its result.
    for (const [p, n] of known) if (n && p !== '/' && dirname(p) === dir) names.add(basename(p))
    if (!keep) return names
    listed.set(dir, names)
    // Made with this call's changes: if they are undone, so is this list (the next one asks again).
    const made = names
    undo.push(() => { if (listed.get(dir) === made) listed.delete(dir) })
    return names
  }

  /** Whether `dir` has entries, as the running call sees it (a big directory is not read for this). */
  function hasEntries(dir: string): boolean {
    const names = listing(dir, true)
    if (names) return names.size > 0
    // More than MAX_LISTED entries at the host; this call deleted at most that many: some are left.
    if ((deletedNow.get(dir) ?? 0) <= MAX_LISTED) return true
    return listing(dir)!.size > 0
  }

  /** Between calls: a cache that weighs more than CACHE_BYTES is dropped whole (misses ask the host again). */
  function trimCache() {
    if (knownBytes + filterBytes <= CACHE_BYTES) return
    known.clear()
    knownBytes = 0
    filters.clear()
    filterBytes = 0
    listed.clear()
    bigDirs.clear()
    statsIn.clear()
  }

  function lookup(p: string): Node | null {
    if (p === '/') return { kind: 'dir', size: 0, mtime: 0, marker: true }
    const n = known.get(p)
    if (n !== undefined) return n
    const parent = dirname(p)
    const pn = lookup(parent)
    if (!pn || pn.kind !== 'dir') { remember(p, null); return null }
    if (!listed.has(parent)) {
      // One path, not its whole directory: listing one of 20,000 files cold
      // took ~2 s, and the first write into it paid that at every load (so at
      // every wake). A lookup costs ~0.2 ms (~2 ms cold), one after another
      // within a batch (and each sends the host the results before it), so a
      // directory looked into again and again is listed, once, after
      // STATS_BEFORE_LISTING lookups; too big for the cache, its names' hashes
      // are taken instead (asked again every STATS_BETWEEN_NAMES lookups until
      // the host has them at hand).
      const asked = (statsIn.get(parent) ?? 0) + 1
      statsIn.set(parent, asked)
      if (asked > STATS_BEFORE_LISTING && !filters.has(parent) && (asked - STATS_BEFORE_LISTING) % STATS_BETWEEN_NAMES === 1) {
        if (!listing(parent, true)) fetchNames(parent)
      }
    }
    if (listed.has(parent)) {
      const found = known.get(p)
      if (found === undefined) { remember(p, null); return null }
      return found
    }
    const f = filters.get(parent)
    if (f && !mayHave(f.names, basename(p))) { remember(p, null); return null }
    const row = ask('stat', p)
    const found: Node | null = row ? { kind: row[1], size: row[2], mtime: row[3], marker: row[4] } : null
    remember(p, found)
    return found
  }
  /**
   * Whether `p` (whose parent is a directory) is a directory: what a write
   * needs to know of what it replaces. In a big directory whose names'
   * hashes the cache holds, a name not among its directories' is not one:
   * rewriting a file there asks the host nothing.
   */
  function isDir(p: string): boolean {
    const n = known.get(p)
    if (n !== undefined) return n !== null && n.kind === 'dir'
    const parent = dirname(p)
    const f = listed.has(parent) ? undefined : filters.get(parent)
    if (f && !mayHave(f.dirs, basename(p))) return false
    const found = lookup(p)
    return found !== null && found.kind === 'dir'
  }
  /** Paths looked up one by one in each directory not listed: past STATS_BEFORE_LISTING, the directory is listed. */
  const statsIn = new Map<string, number>()
  const STATS_BEFORE_LISTING = 16
  const STATS_BETWEEN_NAMES = 256

  function checkParents(p: string) {
    let q = dirname(p)
    const chain: string[] = []
    while (true) { chain.push(q); if (q === '/') break; q = dirname(q) }
    for (let i = chain.length - 1; i >= 0; i--) {
      const n = lookup(chain[i]!)
      if (n && n.kind === 'file') throw fsError('ENOTDIR', 'not a directory', chain[i]!)
    }
    for (let i = chain.length - 1; i >= 0; i--) {
      if (!lookup(chain[i]!)) makeDir(chain[i]!, false, 0)
    }
  }

  // A directory this call creates has no children but the ones it adds.
  function makeDir(p: string, marker: boolean, mtime: number) {
    setKnown(p, { kind: 'dir', size: 0, mtime, marker })
    if (!listed.has(p)) {
      listed.set(p, new Set())
      undo.push(() => listed.delete(p))
    }
  }

  // An implicit directory (no marker) disappears with its last child, as in hyperdrive.
  function pruneEmpty(dir: string) {
    while (dir !== '/') {
      const n = lookup(dir)
      if (!n || n.marker || hasEntries(dir)) return
      setKnown(dir, null)
      dir = dirname(dir)
    }
  }

  function cacheContent(p: string, data: Uint8Array | null) {
    const old = content.get(p)
    if (old) { content.delete(p); contentBytes -= old.length }
    if (data && data.length <= 65536) {
      content.set(p, data); contentBytes += data.length
      while (contentBytes > MAX_CONTENT_CACHE) {
        const first = content.keys().next().value as string
        contentBytes -= content.get(first)!.length
        content.delete(first)
      }
    }
  }

  /** What the running call last wrote to `p`, if it wrote it (too big for the cache, it is found here). */
  function writtenNow(p: string): Uint8Array | undefined {
    for (let i = ops.length - 1; i >= 0; i--) {
      const op = ops[i]
      if (op.path !== p) continue
      return op.op === 'put' ? op.data : undefined
    }
    return undefined
  }

  /** The encoding asked for: a string, or `{ encoding }` (DatArchive's options object). */
  function encodingOf(opts: any): any {
    return typeof opts === 'object' && opts ? opts.encoding : opts
  }
  /** utf8, the default: no encoding, '', 'utf8' or 'utf-8'. */
  function isUtf8(e: any): boolean {
    return e === undefined || e === null || e === '' || e === 'utf8' || e === 'utf-8'
  }

  function toBytes(data: any, enc: any): Uint8Array {
    const e = encodingOf(enc)
    if (typeof data === 'string') {
      if (V1) return e === 'hex' ? fromHex(data) : utf8Encode(data)
      if (isUtf8(e)) return utf8Encode(data)
      if (e === 'base64') return fromBase64(data)
      if (e === 'hex') return fromHex(data)
      throw new TypeError(`a string is written as 'utf8' (the default), 'base64' or 'hex'; not ${String(e)} (write bytes as a Uint8Array)`)
    }
    if (!V1 && e !== undefined && e !== null && e !== 'binary' && e !== 'buffer') {
      throw new TypeError(`bytes are written as they are: the encoding ${String(e)} is for strings`)
    }
    if (data instanceof Uint8Array) return new Uint8Array(data)
    if (data instanceof ArrayBuffer) return new Uint8Array(data.slice(0))
    if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength))
    throw new TypeError('data must be a string, Uint8Array or ArrayBuffer')
  }

  function stat(n: Node) {
    if (V1) {
      return ObjectFreeze({
        size: n.size,
        mtime: new RealDate(n.mtime),
        isFile: () => n.kind === 'file',
        isDirectory: () => n.kind === 'dir'
      })
    }
    // DatArchive's stat: size, blocks (of 64 KiB), downloaded (all of them:
    // the host and an auditor read every block), mtime and ctime (the archive
    // keeps one time per entry, its last write). The methods are not
    // enumerable, and toJSON gives the fields: a stat can be returned.
    const blocks = n.kind === 'file' ? Math.ceil(n.size / 65536) : 0
    const st = { size: n.size, blocks, downloaded: blocks, mtime: new RealDate(n.mtime), ctime: new RealDate(n.mtime) }
    Object.defineProperties(st, {
      isFile: { value: () => n.kind === 'file' },
      isDirectory: { value: () => n.kind === 'dir' },
      toJSON: { value: () => ({ size: st.size, blocks, downloaded: blocks, mtime: st.mtime, ctime: st.ctime }) }
    })
    return ObjectFreeze(st)
  }

  /**
   * The paths under directory `p` (whose node is `n`) relative to it, depth
   * first, each directory's names sorted: its children only, or (recursive)
   * everything beneath.
   */
  function walk(p: string, recursive: boolean): string[] {
    const out: string[] = []
    const visit = (dir: string, prefix: string) => {
      for (const name of Array.from(listing(dir)!).sort()) {
        out.push(prefix + name)
        const child = dir === '/' ? '/' + name : dir + '/' + name
        if (recursive && lookup(child)?.kind === 'dir') visit(child, prefix + name + '/')
      }
    }
    visit(p, '')
    return out
  }

  function removeFile(p: string) {
    setKnown(p, null)
    const prev = content.get(p)
    undo.push(() => cacheContent(p, prev ?? null))
    cacheContent(p, null)
    ops.push({ op: 'del', path: p })
  }
  function removeDir(p: string, n: Node) {
    setKnown(p, null)
    if (n.marker) ops.push({ op: 'del', path: p })
  }
  /** Remove everything under directory `p` (not `p` itself). */
  function removeTree(p: string) {
    for (const name of Array.from(listing(p)!)) {
      const child = p + '/' + name
      const n = lookup(child)
      if (!n) continue
      if (n.kind === 'dir') { removeTree(child); removeDir(child, n) } else removeFile(child)
    }
  }

  const files = {
    async stat(path: any) {
      const p = normalize(path)
      const n = lookup(p)
      if (!n) throw fsError('ENOENT', 'no such file or directory', p)
      return stat(n)
    },
    async readFile(path: any, enc?: any) {
      const p = normalize(path)
      const n = lookup(p)
      if (!n) throw fsError('ENOENT', 'no such file or directory', p)
      if (n.kind === 'dir') throw fsError('EISDIR', 'is a directory', p)
      // Written by this call (the host learns of it with the call's result), else cached, else the host's.
      let data = writtenNow(p) ?? content.get(p)
      if (!data) data = ask('read', p) as Uint8Array
      const e = encodingOf(enc)
      if (!V1) {
        if (isUtf8(e)) return utf8Decode(data)
        if (e === 'base64') return toBase64(data)
        if (e === 'hex') return toHex(data)
        if (e === 'binary' || e === 'buffer') return new Uint8Array(data)
        throw new TypeError(`unknown encoding ${String(e)}: use 'utf8' (the default), 'base64', 'hex' or 'binary'`)
      }
      if (e === 'utf8' || e === 'utf-8') return utf8Decode(data)
      if (e === 'hex') return toHex(data)
      if (e !== undefined && e !== null && e !== 'binary' && e !== 'buffer') throw new TypeError(`unknown encoding ${e}`)
      return new Uint8Array(data)
    },
    async readdir(path: any, opts?: any) {
      const p = normalize(path)
      const n = lookup(p)
      if (!n) throw fsError('ENOENT', 'no such file or directory', p)
      if (n.kind !== 'dir') throw fsError('ENOTDIR', 'not a directory', p)
      if (V1) return Array.from(listing(p)!).sort()
      const names = walk(p, !!(opts && opts.recursive))
      if (!(opts && opts.stat)) return names
      return names.map((name) => ({ name, stat: stat(lookup(p === '/' ? '/' + name : p + '/' + name)!) }))
    },
    async writeFile(path: any, data: any, enc?: any) {
      const p = normalize(path)
      mayWrite(p)
      if (p === '/') throw fsError('EISDIR', 'is a directory', p)
      const bytes = toBytes(data, enc)
      if (bytes.length > MAX_FILE) throw fsError('EFBIG', `file larger than ${MAX_FILE} bytes`, p)
      checkParents(p)
      if (isDir(p)) throw fsError('EISDIR', 'is a directory', p)
      setKnown(p, { kind: 'file', size: bytes.length, mtime: now, marker: false })
      const prev = content.get(p)
      undo.push(() => cacheContent(p, prev ?? null))
      cacheContent(p, bytes)
      ops.push({ op: 'put', path: p, data: bytes, mtime: now })
    },
    async mkdir(path: any) {
      const p = normalize(path)
      if (p === '/') return
      const n = lookup(p)
      if (n && n.kind === 'file') throw fsError('EEXIST', 'file already exists', p)
      if (n && n.marker) return
      // Only now would it change the archive (so a view may mkdir a directory that exists).
      mayWrite(p)
      checkParents(p)
      if (n) setKnown(p, { kind: 'dir', size: 0, mtime: now, marker: true })
      else makeDir(p, true, now)
      ops.push({ op: 'mkdir', path: p, mtime: now })
    },
    async unlink(path: any) {
      const p = normalize(path)
      mayWrite(p)
      const n = lookup(p)
      if (!n) throw fsError('ENOENT', 'no such file or directory', p)
      if (n.kind === 'dir') throw fsError('EISDIR', 'is a directory (use rmdir)', p)
      removeFile(p)
      pruneEmpty(dirname(p))
    },
    async rmdir(path: any, opts?: any) {
      const p = normalize(path)
      mayWrite(p)
      if (p === '/') throw fsError('EBUSY', 'cannot remove the root directory', p)
      const n = lookup(p)
      if (!n) throw fsError('ENOENT', 'no such file or directory', p)
      if (n.kind !== 'dir') throw fsError('ENOTDIR', 'not a directory', p)
      if (!V1 && opts && opts.recursive) removeTree(p)
      else if (hasEntries(p)) throw fsError('ENOTEMPTY', V1 ? 'directory not empty' : 'directory not empty (rmdir(path, { recursive: true }) removes it and all it holds)', p)
      removeDir(p, n)
      pruneEmpty(dirname(p))
    },
    async getInfo() {
      const info = ask('info', '/')
      const version = info.version + ops.length
      if (V1) return ObjectFreeze({ key: info.key, version })
      // DatArchive's shape. NodeVMS titled the archive after the script; the
      // rest is what a node-dat-archive owner saw (no peers in a replay).
      return ObjectFreeze({ key: info.hex, url: 'hyper://' + info.key, isOwner: true, version, peers: 0, mtime: 0, size: 0, title: cfg.filename + ' files' })
    },
    async history(opts?: any) {
      const start = (opts && opts.start) || 0
      const end = opts && typeof opts.end === 'number' ? opts.end : Infinity
      // The host sends the rows of that range only (at least them; the filter below decides), not the whole history.
      const finite = (x: any) => typeof x === 'number' && x === x && x !== Infinity && x !== -Infinity
      const h = ask('history', '/', JSON.stringify({ start: finite(start) ? start : null, end: finite(end) ? end : null }))
      const rows = h.rows
      for (let i = 0; i < ops.length; i++) {
        rows.push({ type: ops[i].op === 'del' ? 'del' : 'put', path: ops[i].path, version: h.version + i + 1 })
      }
      const out = rows.filter((r: any) => r.version > start && r.version <= end)
      return opts && opts.reverse ? out.reverse() : out
    }
  }
  for (const k of Object.keys(files)) ObjectFreeze((files as any)[k])

  // ---- System, exports ---------------------------------------------------------------
  const caller = { id: '' }
  const System = ObjectFreeze({
    caller: new Proxy({}, { get: (_t, k) => (k === 'id' ? caller.id : undefined), set: () => false }),
    files: ObjectFreeze(files),
    oracles: ObjectFreeze(oracles)
  })
  const module: any = { exports: {} }
  g.System = System
  g.module = module
  g.exports = module.exports
  g.global = g

  function describe(err: any) {
    if (err && typeof err === 'object') {
      let name = 'Error', message = '', code = ''
      try { name = typeof err.name === 'string' ? err.name : 'Error' } catch {}
      try { message = typeof err.message === 'string' ? err.message : show(err) } catch {}
      try { code = typeof err.code === 'string' ? err.code : '' } catch {}
      return { name: name.slice(0, 128), message: message.slice(0, 1024), code: code.slice(0, 64) }
    }
    let message = ''
    try { message = typeof err === 'symbol' ? err.toString() : show(err) } catch { message = typeof err }
    return { name: 'ThrownValue', message: ('a non-Error value was thrown: ' + message).slice(0, 1024), code: '' }
  }

  // Methods, and which of them the script marks as views (`exports.NAME.view = true`).
  function methods(): { methods: string[]; views: string[] } {
    const ex = module.exports
    if (!ex || (typeof ex !== 'object' && typeof ex !== 'function')) return { methods: [], views: [] }
    // init runs at every load; migrate (API 2) once, when an upgrade loads this script: neither is a method.
    const names = Object.keys(ex).filter((k) => k !== 'init' && (V1 || k !== 'migrate') && typeof ex[k] === 'function').sort()
    return { methods: names, views: names.filter((k) => ex[k].view === true) }
  }

  function begin(callerId: string, time: number, seed: number[]) {
    caller.id = callerId
    oracleLog = []
    now = time
    seedRandom(seed)
    ops = []
    undo = []
    deletedNow.clear()
    trimCache()
  }

  function finish(ok: boolean, value: any, err: any) {
    let value_ = ''
    let error: any = null
    if (ok) {
      try {
        const s = canonicalStringify(value, MAX_RESULT)
        value_ = s === undefined ? '' : s
      } catch (e: any) {
        ok = false
        error = { name: 'EncodingError', message: 'the result cannot be returned: ' + String(e && e.message), code: String(e && e.code) }
      }
    } else {
      error = describe(err)
    }
    // Where the stack ends depends on how V8 compiled the code: not reproducible, so a limit.
    const limit = !ok && error.name === 'RangeError' && error.message === 'Maximum call stack size exceeded'
    if (limit) error = { name: 'LimitError', message: 'the call overflowed the stack', code: 'STACK_OVERFLOW' }
    const out = ok ? { ok, limit: false, value: value_, error: null, ops, oracles: oracleLog } : { ok, limit, value: '', error, ops: [], oracles: oracleLog }
    oracleLog = []
    if (!ok) for (let i = undo.length - 1; i >= 0; i--) undo[i]!()
    ops = []
    undo = []
    return out
  }

  async function call(method: string, argsJson: string, callerId: string, time: number, seed: number[], fresh: boolean) {
    if (fresh) begin(callerId, time, seed)
    const step = method === 'init' || (method === 'migrate' && !fresh) // a load's steps (migrate: an upgrade's)
    loading = step
    try {
      const fn = step ? module.exports && module.exports[method] : module.exports[method]
      if (typeof fn !== 'function') {
        if (step) return finish(true, undefined, null)
        throw fsError('UNKNOWN_METHOD', 'the script does not export this method', method)
      }
      const args = argsJson === '' ? [] : JSON.parse(argsJson)
      const value = await fn.apply(module.exports, ArrayIsArray(args) ? args : [])
      return finish(true, value, null)
    } catch (err) {
      return finish(false, undefined, err)
    } finally {
      loading = false
    }
  }

  // Runs a batch of calls in one entry into the isolate (entering costs more than a small call).
  async function runBatch(calls: any[]) {
    outbox = []
    for (let i = 0; i < calls.length; i++) {
      const c = calls[i]
      running = i
      const r = await call(c[0], c[1], c[2], c[3], c[4], true)
      outbox.push(r)
      if (r.limit) break
    }
    running = -1
    const out = outbox
    outbox = []
    return out
  }

  // After a batch was cut short (time limit): what finished, and which call was running.
  function take() {
    const out = { results: outbox, running }
    outbox = []
    running = -1
    return out
  }

  return { call, methods, begin, runBatch, take }
}
