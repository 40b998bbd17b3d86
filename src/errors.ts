/**
 * Every failure vms-node reports is a VmsError with a stable `code`.
 * The message reads `CODE: what happened`, and says what to do next where
 * there is something to do.
 */
export type VmsErrorCode =
  /** The script does not compile, or has no callable exports. Thrown by VmHost.create. */
  | 'SCRIPT_INVALID'
  /** `exports.init` failed while the VM was created. */
  | 'SCRIPT_INIT_FAILED'
  /** The method is not an exported function of the script. */
  | 'UNKNOWN_METHOD'
  /** The method is a view: run it with view(), it is never logged. */
  | 'VIEW_METHOD'
  /** The method name is reserved (`init`) and cannot be called. */
  | 'RESERVED_METHOD'
  /** A value cannot be encoded as canonical JSON (NaN, a function, a cycle, ...). */
  | 'NOT_ENCODABLE'
  /** Arguments, result or a request exceed the VM's size limits. */
  | 'TOO_LARGE'
  /** A request is not well formed (wrong types, bad key or nonce length, ...). */
  | 'MALFORMED_REQUEST'
  /** The caller's signature does not verify. */
  | 'BAD_SIGNATURE'
  /** The request was signed for another VM. */
  | 'WRONG_VM'
  /** The nonce was used before, or its time is outside the accepted window. */
  | 'BAD_NONCE'
  /** Too many calls are waiting: back off and retry. */
  | 'QUEUE_FULL'
  /** The VM is closing or closed. */
  | 'CLOSED'
  /** The script threw, or a file operation failed inside it. */
  | 'CALL_FAILED'
  /** The call ran past its time limit. */
  | 'TIMEOUT'
  /** The call ran past its memory limit. */
  | 'MEMORY_LIMIT'
  /** The call overflowed the stack. */
  | 'STACK_OVERFLOW'
  /** The sandbox process died while running the call. */
  | 'SANDBOX_CRASHED'
  /** The sandbox cannot run here (isolated-vm missing, or not Node). */
  | 'SANDBOX_UNAVAILABLE'
  /** A log entry or receipt does not decode. */
  | 'MALFORMED_ENTRY'
  /** A receipt does not verify against the VM key. */
  | 'BAD_RECEIPT'
  /** The storage holds no VM, or a different one than asked for. */
  | 'STORAGE_INVALID'
  /** Another process has the storage open (a node serving or mirroring it, a program hosting it). */
  | 'STORAGE_LOCKED'
  /** The host could not commit: its storage failed or was changed outside the log. The VM stops. */
  | 'STORAGE_FAILED'
  /** No host of the VM could be reached (yet): check it is served and the DHT bootstrap. */
  | 'HOST_OFFLINE'
  /** The connection dropped with a call in flight; it may or may not have run. */
  | 'CONNECTION_LOST'
  /** A file asked for is not in the archive. */
  | 'NOT_FOUND'
  /** A VM's files archive is not what its log commits to (read by a client): the host changed it outside its log. */
  | 'FILES_TAMPERED'
  /** A pinned call was signed for another script version than the one in force: not run. `remote.message` holds the new version (hash, number, methods). */
  | 'SCRIPT_CHANGED'
  /** An upgrade's script does not compile, or its init or migrate failed: not logged; the old script serves on. */
  | 'UPGRADE_FAILED'
  /** The remote side failed in a way it could not name. */
  | 'INTERNAL'
  /** The call is logged, but no mirror held it within the time asked for (durability 'mirror'). */
  | 'DURABILITY_TIMEOUT'
  /** The caller may not manage this node (deploy, ls, stop). */
  | 'NOT_ALLOWED'
  /** A node or VM quota is used up (VMs per node, storage or calls per second per VM). */
  | 'QUOTA_EXCEEDED'
  /** A replay cannot start where it was asked to. */
  | 'REPLAY_INVALID'
  /** An option given to the library is not valid (the message names it and what it takes). */
  | 'BAD_OPTION'

/**
 * A finer reason, for code that handles an error (its message may change):
 * STORAGE_INVALID because the storage holds no VM (`no-vm`) or a VM made
 * from another script than the one given (`another-script`).
 */
export type VmsErrorReason = 'no-vm' | 'another-script'

export class VmsError extends Error {
  readonly code: VmsErrorCode
  /** For CALL_FAILED: the error the script threw (name + message), as logged. */
  readonly remote: { name: string; message: string; code: string } | null
  readonly reason: VmsErrorReason | null

  constructor(code: VmsErrorCode, message: string, remote: VmsError['remote'] = null, reason: VmsErrorReason | null = null) {
    super(`${code}: ${message}`)
    this.name = 'VmsError'
    this.code = code
    this.remote = remote
    this.reason = reason
  }
}

/** What a bad argument was, for an error message: `"lots"`, `NaN`, `null`, `an object`. */
export function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return value === '' ? 'an empty string' : JSON.stringify(value.slice(0, 64))
  return typeof value === 'object' ? 'an object' : typeof value === 'number' ? String(value) : typeof value
}
