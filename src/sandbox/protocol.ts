/**
 * Messages between a host process and its sandbox process (Node IPC with the
 * "advanced" serialization, so byte arrays cross as they are).
 */

export type FileOp =
  | { op: 'put'; path: string; data: Uint8Array; mtime: number }
  | { op: 'mkdir'; path: string; mtime: number }
  | { op: 'del'; path: string }

export interface CallInput {
  method: string
  /** Canonical JSON text of the args array. */
  args: string
  callerId: string
  time: number
  seed: Uint8Array
}

export interface RunResult {
  ok: boolean
  /** The call hit a limit (TIMEOUT, MEMORY_LIMIT, STACK_OVERFLOW): not reproducible; its isolate is gone. */
  limit: boolean
  /** Canonical JSON text of the result ('' = undefined). */
  value: string
  error: { name: string; message: string; code: string } | null
  ops: FileOp[]
  /** The oracle calls the script made, in order: canonical JSON input (args array) and output ({"ok":…} or {"error":…}). */
  oracles: Array<{ name: string; input: string; output: string }>
}

export interface SandboxConfig {
  /** The sandbox API version the VM was made with (its genesis): the semantics its script gets (see SANDBOX_API_VERSIONS). */
  apiVersion: number
  script: string
  filename: string
  timeoutMs: number
  memoryMb: number
  maxResultBytes: number
  maxFileBytes: number
  /** Views: every file write throws EROFS. */
  readOnly?: boolean
  /** Oracle names declared in the genesis: `System.oracles.NAME(...)`. */
  oracles?: string[]
  /** An upgrade's load: after `init`, `migrate(migrateFrom)` runs once (the version upgraded from). */
  migrateFrom?: number
}

/**
 * `list` a directory's children (with `arg` a number: null if more than that);
 * `names` the hashes (nameHash) of a big directory's names and of its
 * subdirectories' names, sorted (null if more than `arg` names, or not at hand); `stat` one path (a row, or null); `read` a file; …
 */
export type ReadOp = 'list' | 'names' | 'stat' | 'read' | 'info' | 'history' | 'oracle'

export type ToChild =
  | { t: 'check'; id: number; script: string; filename: string }
  | { t: 'load'; id: number; config: SandboxConfig; time: number; seed: Uint8Array }
  | { t: 'run'; id: number; calls: CallInput[]; timeoutMs: number }
  | { t: 'reply'; rid: number; value?: unknown; error?: { message: string; code: string } }

export type ToParent =
  | { t: 'checked'; id: number; error: string | null }
  | { t: 'loaded'; id: number; methods: string[]; views: string[]; result: RunResult }
  | { t: 'results'; id: number; results: RunResult[]; done: boolean; recycled: boolean }
  | { t: 'read'; rid: number; op: ReadOp; path: string; arg?: string }
  | { t: 'log'; level: string; message: string }
  | { t: 'failed'; id: number; message: string }
  /** isolated-vm did not load in this process (and never will): why. */
  | { t: 'unavailable'; message: string }
