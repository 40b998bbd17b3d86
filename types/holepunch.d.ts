// Hand-written declarations for the untyped Holepunch modules we use.
// Only the surface vms-node touches; widen as the code needs more.

declare module 'b4a' {
  const b4a: {
    from(input: string | ArrayLike<number> | ArrayBuffer, encoding?: string): Buffer
    from(input: ArrayBufferLike, byteOffset: number, length: number): Buffer
    alloc(n: number, fill?: number): Buffer
    allocUnsafe(n: number): Buffer
    concat(list: Uint8Array[], total?: number): Buffer
    equals(a: Uint8Array, b: Uint8Array): boolean
    compare(a: Uint8Array, b: Uint8Array): number
    toString(buf: Uint8Array, encoding?: string, start?: number, end?: number): string
    isBuffer(v: unknown): v is Buffer
    byteLength(s: string, encoding?: string): number
  }
  export default b4a
}

declare module 'compact-encoding' {
  export interface State { start: number; end: number; buffer: Uint8Array | null }
  export interface Encoding<T> {
    preencode(state: State, value: T): void
    encode(state: State, value: T): void
    decode(state: State): T
  }
  const c: {
    state(start?: number, end?: number, buffer?: Uint8Array | null): State
    encode<T>(enc: Encoding<T>, value: T): Buffer
    decode<T>(enc: Encoding<T>, buf: Uint8Array): T
    uint: Encoding<number>
    uint8: Encoding<number>
    uint32: Encoding<number>
    uint64: Encoding<number>
    buffer: Encoding<Uint8Array | null>
    string: Encoding<string>
    utf8: Encoding<string>
    bool: Encoding<boolean>
    fixed32: Encoding<Uint8Array>
    fixed64: Encoding<Uint8Array>
    fixed(n: number): Encoding<Uint8Array>
    array<T>(enc: Encoding<T>): Encoding<T[]>
    raw: Encoding<Uint8Array>
    json: Encoding<unknown>
  }
  export default c
}

declare module 'hypercore-crypto' {
  export interface KeyPair { publicKey: Buffer; secretKey: Buffer }
  export interface TreeNode { index: number; size: number; hash: Uint8Array }
  const crypto: {
    keyPair(seed?: Uint8Array): KeyPair
    sign(message: Uint8Array, secretKey: Uint8Array): Buffer
    verify(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean
    data(data: Uint8Array): Buffer
    parent(a: TreeNode, b: TreeNode): Buffer
    tree(roots: TreeNode[], out?: Uint8Array): Buffer
    hash(data: Uint8Array | Uint8Array[], out?: Uint8Array): Buffer
    randomBytes(n: number): Buffer
    discoveryKey(key: Uint8Array): Buffer
    namespace(name: string, count: number | string[]): Buffer[]
  }
  export default crypto
}

declare module 'hypercore-id-encoding' {
  const id: {
    encode(key: Uint8Array): string
    decode(id: string | Uint8Array): Buffer
    normalize(id: string | Uint8Array): string
    isValid(id: unknown): boolean
  }
  export default id
}

declare module 'flat-tree' {
  const ft: {
    fullRoots(index: number, result?: number[]): number[]
    sibling(index: number, depth?: number): number
    parent(index: number, depth?: number): number
    depth(index: number): number
    index(depth: number, offset: number): number
    children(index: number, depth?: number): [number, number] | null
    leftSpan(index: number, depth?: number): number
    rightSpan(index: number, depth?: number): number
  }
  export default ft
}

declare module 'ready-resource' {
  import { EventEmitter } from 'node:events'
  export default class ReadyResource extends EventEmitter {
    opened: boolean
    closed: boolean
    opening: Promise<void> | null
    closing: Promise<void> | null
    ready(): Promise<void>
    close(): Promise<void>
    protected _open(): Promise<void>
    protected _close(): Promise<void>
  }
}

declare module 'hypercore' {
  import type { EventEmitter } from 'node:events'
  import type { KeyPair, TreeNode } from 'hypercore-crypto'
  export interface Manifest { version: number; hash: string; allowPatch: boolean; quorum: number; signers: Array<{ signature: string; namespace: Uint8Array; publicKey: Uint8Array }>; prologue: unknown }
  export interface HypercoreState { roots: TreeNode[]; length: number; byteLength: number; fork: number; signature: Uint8Array | null }
  export default class Hypercore extends EventEmitter {
    static key(manifest: Uint8Array | Manifest, opts?: { compat?: boolean; version?: number }): Buffer
    static parseManifest(manifest: Uint8Array): Manifest
    static discoveryKey(key: Uint8Array): Buffer
    key: Buffer
    discoveryKey: Buffer
    keyPair: KeyPair | null
    length: number
    contiguousLength: number
    byteLength: number
    fork: number
    writable: boolean
    opened: boolean
    closed: boolean
    state: HypercoreState
    ready(): Promise<void>
    close(): Promise<void>
    append(blocks: Uint8Array | Uint8Array[]): Promise<{ length: number; byteLength: number }>
    get(index: number, opts?: { wait?: boolean; timeout?: number }): Promise<Buffer | null>
    has(index: number): Promise<boolean>
    truncate(length: number, fork?: number): Promise<void>
    treeHash(length?: number): Promise<Buffer>
    setUserData(key: string, value: Uint8Array | null): Promise<void>
    getUserData(key: string): Promise<Buffer | null>
    update(opts?: { wait?: boolean }): Promise<boolean>
    session(opts?: Record<string, unknown>): Hypercore
    snapshot(): Hypercore
    createReadStream(opts?: { start?: number; end?: number; live?: boolean }): AsyncIterable<Buffer>
    /** Fetch a range from peers (`end: -1`: and everything appended later). */
    download(range?: { start?: number; end?: number }): { done(): Promise<void>; destroy(): void }
    /** The replication peers of this core, as hypercore tracks them. */
    peers: HypercorePeer[]
    /** Marks a peer search in progress (reads wait for it); call the returned function when it is over. */
    findingPeers(): () => void
  }
  export interface HypercorePeer { remoteFork: number; remoteLength: number; remoteContiguousLength: number }
}

declare module 'hypercore/lib/merkle-tree.js' {
  import type { TreeNode } from 'hypercore-crypto'
  const mt: { MerkleTree: { getRoots(state: unknown, length: number): Promise<TreeNode[]>; get(state: unknown, index: number): Promise<TreeNode | null> } }
  export default mt
}

declare module 'hypercore/lib/bit-interlude.js' {
  /** Bitfield ranges set in one write batch (hypercore's own, as its verify uses it). */
  export default class BitInterlude {
    setRange(start: number, end: number, value: boolean): void
    flush(tx: unknown, bitfield: unknown): Array<{ start: number; end: number; value: boolean }>
  }
}

declare module 'hypercore/lib/verifier.js' {
  interface Manifest { version?: number; signers: Array<{ publicKey: Uint8Array; namespace?: Uint8Array }> }
  const Verifier: {
    createManifest(input: { version?: number; signers: Array<{ publicKey: Uint8Array; namespace?: Uint8Array }> }): Manifest
    manifestHash(manifest: Manifest): Buffer
  }
  export default Verifier
}

declare module 'hypercore/lib/multisig.js' {
  const multisig: { inflate(data: Uint8Array): { proofs: Array<{ signer: number; signature: Uint8Array; patch: number }> } }
  export default multisig
}

declare module 'hypercore/lib/caps.js' {
  const caps: { treeSignable(manifestHash: Uint8Array, treeHash: Uint8Array, length: number, fork: number): Buffer }
  export default caps
}

declare module 'corestore' {
  import type Hypercore from 'hypercore'
  export default class Corestore {
    constructor(storage: string, opts?: Record<string, unknown>)
    ready(): Promise<void>
    close(): Promise<void>
    get(opts: { name?: string; key?: Uint8Array; exclusive?: boolean; writable?: boolean } | Uint8Array): Hypercore
    namespace(name: string): Corestore
    createKeyPair(name: string): Promise<{ publicKey: Buffer; secretKey: Buffer }>
    session(): Corestore
    replicate(isInitiator: boolean | unknown, opts?: Record<string, unknown>): unknown
    /** hypercore-storage: `path` is the storage directory. */
    storage: { path: string }
  }
}

declare module 'hyperbee' {
  import type Hypercore from 'hypercore'
  export interface BeeNode { seq: number; key: any; value: any }
  export interface BlockEntry { seq: number; key: Buffer; value: Buffer | null; isDeletion(): boolean }
  export interface HyperbeeBatch {
    length: number
    put(key: unknown, value?: unknown, opts?: Record<string, unknown>): Promise<void>
    del(key: unknown, opts?: Record<string, unknown>): Promise<void>
    toBlocks(): Buffer[]
    getRoot(ensureHeader: boolean): Promise<unknown>
    flush(): Promise<void>
    close(): Promise<void>
  }
  export default class Hyperbee {
    constructor(core: Hypercore, opts?: Record<string, unknown>)
    core: Hypercore
    version: number
    ready(): Promise<void>
    batch(opts?: Record<string, unknown>): HyperbeeBatch
    get(key: unknown, opts?: Record<string, unknown>): Promise<BeeNode | null>
    peek(range: Record<string, unknown>, opts?: Record<string, unknown>): Promise<BeeNode | null>
    getBlock(seq: number, opts?: Record<string, unknown>): Promise<BlockEntry>
    checkout(version: number, opts?: Record<string, unknown>): Hyperbee
    snapshot(): Hyperbee
    createReadStream(range?: Record<string, unknown>, opts?: Record<string, unknown>): AsyncIterable<BeeNode>
    /** A pull iterator over a range: open(), next() (null at the end), close(). */
    createRangeIterator(range?: Record<string, unknown>, opts?: Record<string, unknown>): { open(): Promise<void>; next(): Promise<BeeNode | null>; close(): Promise<void> }
    createHistoryStream(opts?: Record<string, unknown>): AsyncIterable<{ type: 'put' | 'del'; seq: number; key: any; value: any }>
    close(): Promise<void>
  }
}

declare module 'hyperdrive' {
  import type Corestore from 'corestore'
  import type Hyperbee from 'hyperbee'
  import type Hypercore from 'hypercore'
  export interface BlobId { blockOffset: number; blockLength: number; byteOffset: number; byteLength: number }
  export interface DriveEntry { seq: number; key: string; value: { executable: boolean; linkname: string | null; blob: BlobId | null; metadata: any } }
  export default class Hyperdrive {
    constructor(store: Corestore, key?: Uint8Array | null, opts?: Record<string, unknown>)
    static normalizePath(name: string): string
    key: Buffer
    discoveryKey: Buffer
    version: number
    core: Hypercore
    db: Hyperbee
    blobs: { core: Hypercore; get(id: BlobId): Promise<Buffer | null> } | null
    ready(): Promise<void>
    close(): Promise<void>
    getBlobs(): Promise<{ core: Hypercore; get(id: BlobId): Promise<Buffer | null> }>
    get(name: string, opts?: Record<string, unknown>): Promise<Buffer | null>
    put(name: string, buf: Uint8Array | string, opts?: Record<string, unknown>): Promise<void>
    del(name: string): Promise<void>
    entry(name: string, opts?: Record<string, unknown>): Promise<DriveEntry | null>
    exists(name: string): Promise<boolean>
    readdir(folder: string, opts?: Record<string, unknown>): AsyncIterable<string>
    list(folder: string, opts?: Record<string, unknown>): AsyncIterable<DriveEntry>
    checkout(version: number): Hyperdrive
    update(opts?: { wait?: boolean }): Promise<boolean>
    truncate(version: number, opts?: Record<string, unknown>): Promise<void>
  }
}

declare module 'brittle' {
  export interface Test {
    is(a: unknown, b: unknown, msg?: string): void
    not(a: unknown, b: unknown, msg?: string): void
    alike(a: unknown, b: unknown, msg?: string): void
    unlike(a: unknown, b: unknown, msg?: string): void
    ok(v: unknown, msg?: string): void
    absent(v: unknown, msg?: string): void
    pass(msg?: string): void
    fail(msg?: string): void
    exception(fn: Promise<unknown> | (() => unknown), expected?: RegExp | Function, msg?: string): Promise<void>
    execution(fn: Promise<unknown> | (() => unknown), msg?: string): Promise<void>
    teardown(fn: () => unknown, opts?: { order?: number }): void
    tmp(): Promise<string>
    comment(msg: string): void
    plan(n: number): void
    timeout(ms: number): void
  }
  type TestFn = (t: Test) => unknown
  interface TestApi {
    (name: string, fn: TestFn): void
    (name: string, opts: Record<string, unknown>, fn: TestFn): void
    skip(name: string, fn: TestFn): void
    solo(name: string, fn: TestFn): void
  }
  const test: TestApi
  export default test
}

declare module 'sub-encoder' {
  export default class SubEncoder {
    constructor(prefix: string, encoding: string)
    encode(key: string): Buffer
    decode(buf: Uint8Array): string
  }
}

declare module 'hyperbee/lib/messages.js' {
  export const Node: {
    decode(buf: Uint8Array): { key: Buffer; value: Buffer | null; index: Buffer }
    encode(node: { key: Uint8Array; value: Uint8Array | null; index: Uint8Array }): Buffer
  }
  export const YoloIndex: { encode(index: { levels: Array<{ keys: number[]; children: number[] }> }): Buffer }
  export const Header: { decode(buf: Uint8Array): { protocol: string; metadata: { contentFeed: Buffer | null } | null } }
}

declare module 'paparam' {
  export interface Command {
    parse(argv?: string[]): { args: Record<string, string>; flags: Record<string, any>; rest?: string[] } | null
    running: Promise<void> | null
    args: Record<string, string>
    flags: Record<string, any>
    rest: string[] | null
    /** The help text of this command (or of a subcommand path). */
    help(...subcommands: string[]): string
  }
  type Part = unknown
  export interface Flag { /** Every value given (the flag repeated), not the last one only. */ multiple(): Flag }
  export function command(name: string, ...parts: Part[]): Command
  export function flag(spec: string, description?: string): Flag
  export function arg(spec: string, description?: string): Part
  export function rest(spec: string, description?: string): Part
  export function summary(text: string): Part
  export function description(text: string): Part
  export function header(text: string): Part
  export function footer(text: string): Part
  /** Where a command's failure goes (an error it threw, or bad arguments) instead of a thrown Bail. */
  export function bail(fn: (bail: { reason: string; flag?: { name: string } | null; arg?: { value: string } | null; err?: unknown }) => unknown): Part
}

declare module 'protomux' {
  import type { Encoding } from 'compact-encoding'
  export interface Message<T = unknown> { send(value: T): boolean }
  export interface Channel {
    opened: boolean
    closed: boolean
    userData: unknown
    open(handshake?: unknown): void
    close(): void
    cork(): void
    uncork(): void
    addMessage<T>(opts: { encoding: Encoding<T>; onmessage: (m: T) => void }): Message<T>
  }
  export default class Protomux {
    static from(stream: unknown, opts?: Record<string, unknown>): Protomux
    stream: unknown
    pair(opts: { protocol: string; id?: Uint8Array | null }, notify: (id: Uint8Array) => unknown): void
    unpair(opts: { protocol: string; id?: Uint8Array | null }): void
    opened(opts: { protocol: string; id?: Uint8Array | null }): boolean
    createChannel(opts: {
      protocol: string
      id?: Uint8Array | null
      unique?: boolean
      handshake?: Encoding<any> | null
      userData?: unknown
      onopen?: (handshake: any, channel: Channel) => unknown
      onclose?: (isRemote: boolean, channel: Channel) => unknown
    }): Channel | null
  }
}

declare module 'hyperswarm' {
  import { EventEmitter } from 'node:events'
  export interface Discovery { flushed(): Promise<void>; destroy(): Promise<void>; refresh(opts?: { client?: boolean; server?: boolean }): Promise<void> }
  export interface Connection extends EventEmitter {
    handshakeHash: Buffer
    remotePublicKey: Buffer
    publicKey: Buffer
    destroyed: boolean
    destroy(err?: Error): void
    end(): void
  }
  export default class Hyperswarm extends EventEmitter {
    constructor(opts?: Record<string, unknown>)
    connections: Set<Connection>
    keyPair: { publicKey: Buffer; secretKey: Buffer }
    dht: { destroy(opts?: { force?: boolean }): Promise<void> }
    join(topic: Uint8Array, opts?: { server?: boolean; client?: boolean }): Discovery
    joinPeer(publicKey: Uint8Array): void
    listen(): Promise<void>
    leave(topic: Uint8Array): Promise<void>
    /** The discovery of a topic joined, or null. */
    status(topic: Uint8Array): Discovery | null
    flush(): Promise<void>
    destroy(opts?: { force?: boolean }): Promise<void>
    on(event: 'connection', fn: (conn: Connection, info: unknown) => void): this
  }
}

declare module 'hyperdht' {
  export default class DHT {
    constructor(opts?: Record<string, unknown>)
    ready(): Promise<void>
    destroy(opts?: { force?: boolean }): Promise<void>
    address(): { host: string; port: number }
  }
}

declare module 'hyperdht/testnet.js' {
  import type DHT from 'hyperdht'
  export interface Testnet { nodes: DHT[]; bootstrap: Array<{ host: string; port: number }>; createNode(opts?: Record<string, unknown>): DHT; destroy(): Promise<void> }
  export default function createTestnet(size?: number, opts?: Record<string, unknown> | ((fn: () => unknown) => void)): Promise<Testnet>
}

declare module 'protomux-rpc' {
  export default class ProtomuxRPC {
    constructor(stream: unknown, opts?: Record<string, unknown>)
    respond(method: string, handler: (req: Buffer) => unknown): void
    request(method: string, value: Uint8Array): Promise<Buffer>
    destroy(): void
  }
}

declare module 'hyperblobs' {
  import type Hypercore from 'hypercore'
  export default class Hyperblobs { constructor(core: Hypercore) }
}

declare module 'bare-env' {
  /** Bare's environment variables (the test side under Bare reads its arguments here). */
  const env: Record<string, string | undefined>
  export default env
}

declare module 'rache' {
  /** A cache with random eviction; caches made `from` one share its size limit. */
  export default class Rache {
    constructor(opts?: { maxSize?: number; parent?: Rache | null })
    static from(cache: Rache | null): Rache
    readonly maxSize: number
    readonly globalSize: number
    readonly size: number
  }
}
