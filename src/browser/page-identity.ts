/**
 * A caller identity made in the page and kept per origin: an ed25519 key pair
 * made by WebCrypto, its private key not extractable, stored in IndexedDB
 * (CryptoKeys are kept as they are, never as bytes). Calls are signed here,
 * with the same bytes a Node caller signs (callSignable), so the gateway can
 * neither make nor alter one.
 */
import b4a from 'b4a'
import { callSignable, type SignedCall } from '../messages/index.js'
import { canonicalEncode } from '../canonical-json.js'
import { makeNonce, formatKey } from '../identity.js'
import { VmsError } from '../errors.js'

const DB = 'vms-node'
const STORE = 'identities'
/** Args a call may carry (the genesis' limit is checked by the host; this is the wire's). */
const MAX_ARGS = 64 * 1024

export class PageIdentity {
  readonly publicKey: Uint8Array
  private privateKey: CryptoKey

  private constructor(publicKey: Uint8Array, privateKey: CryptoKey) {
    this.publicKey = publicKey
    this.privateKey = privateKey
  }

  /** The caller's id, as `System.caller.id` shows it (z-base-32). */
  get id(): string { return formatKey(this.publicKey) }

  /**
   * The page's identity named `name` (made on first use and kept in this
   * origin's IndexedDB; `persist: false` makes one for this page only).
   */
  static async load(name = 'default', { persist = true } = {}): Promise<PageIdentity> {
    const subtle = globalThis.crypto?.subtle
    if (!subtle) throw new VmsError('SANDBOX_UNAVAILABLE', 'this page has no WebCrypto (crypto.subtle): serve it over https, or from localhost')
    if (persist) {
      const kept = await idb<{ publicKey: Uint8Array; privateKey: CryptoKey } | undefined>('readonly', (s) => s.get(name)).catch(() => undefined)
      if (kept) return new PageIdentity(new Uint8Array(kept.publicKey), kept.privateKey)
    }
    let pair: CryptoKeyPair
    try {
      pair = await subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']) as CryptoKeyPair
    } catch {
      throw new VmsError('SANDBOX_UNAVAILABLE', 'this browser\'s WebCrypto has no Ed25519 (Chrome 137+, Firefox 129+, Safari 17+ have it)')
    }
    const publicKey = new Uint8Array(await subtle.exportKey('raw', pair.publicKey))
    if (persist) {
      // Two tabs making one at once: the first kept wins, and both use it.
      await idb('readwrite', (s) => s.add({ publicKey, privateKey: pair.privateKey }, name)).catch(() => {})
      const kept = await idb<{ publicKey: Uint8Array; privateKey: CryptoKey } | undefined>('readonly', (s) => s.get(name)).catch(() => undefined)
      if (kept) return new PageIdentity(new Uint8Array(kept.publicKey), kept.privateKey)
    }
    return new PageIdentity(publicKey, pair.privateKey)
  }

  /** Sign a call of `method(...args)` on the VM `vmKey`, for the script version `scriptHash` if given (pinned). */
  async sign(vmKey: Uint8Array, method: string, args: unknown[], opts: { scriptHash?: Uint8Array; time?: number } = {}): Promise<SignedCall> {
    if (typeof method !== 'string' || method === '') throw new VmsError('MALFORMED_REQUEST', 'the method must be a name (a string)')
    const encoded = canonicalEncode(args, MAX_ARGS)
    const nonce = makeNonce(opts.time ?? Date.now())
    const signable = callSignable(vmKey, method, encoded, nonce, opts.scriptHash)
    const signature = new Uint8Array(await globalThis.crypto.subtle.sign({ name: 'Ed25519' }, this.privateKey, new Uint8Array(signable)))
    return {
      vmKey: b4a.from(vmKey), method, args: encoded, nonce, publicKey: b4a.from(this.publicKey), signature: b4a.from(signature),
      ...(opts.scriptHash ? { scriptHash: b4a.from(opts.scriptHash) } : {})
    } as SignedCall
  }
}

function idb<T>(mode: IDBTransactionMode, op: (store: IDBObjectStore) => IDBRequest): Promise<T> {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(DB, 1)
    open.onupgradeneeded = () => { open.result.createObjectStore(STORE) }
    open.onerror = () => reject(open.error)
    open.onsuccess = () => {
      const db = open.result
      const tx = db.transaction(STORE, mode)
      const req = op(tx.objectStore(STORE))
      tx.oncomplete = () => { db.close(); resolve(req.result as T) }
      tx.onerror = () => { db.close(); reject(tx.error) }
      tx.onabort = () => { db.close(); reject(tx.error) }
    }
  })
}
