/**
 * The host's handle on its sandbox process. Isolates run in a child process
 * so that (1) the embedding program needs no `--no-node-snapshot` flag and
 * (2) a script that aborts V8 (heap exhaustion can) kills only the child: the
 * host fails that call, starts a new child and logs a load entry.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { VmsError } from '../errors.js'
import { sandboxUnavailable } from './availability.js'
import type { CallInput, ReadOp, RunResult, SandboxConfig, ToChild, ToParent } from './protocol.js'

export interface SandboxHooks {
  /** Answer a file read of the running script (cache miss in the isolate). */
  read(op: ReadOp, path: string, arg?: string): Promise<unknown>
  /** A line the script wrote with console.* */
  log(level: string, message: string): void
}

interface Waiter {
  resolve(v: any): void
  reject(e: Error): void
  onResults?: (results: RunResult[]) => void
}

const CHILD = new URL('./child.js', import.meta.url)

export class SandboxProcess {
  private child: ChildProcess | null = null
  private nextId = 0
  private waiters = new Map<number, Waiter>()
  private closed = false
  /** Set when isolated-vm failed to load in a child: every request fails with it, no child is started again. */
  private unavailable: VmsError | null = null
  private hooks: SandboxHooks
  /** How many child processes were started (1 + restarts). */
  spawns = 0

  constructor(hooks: SandboxHooks) {
    const missing = sandboxUnavailable('running a VM\'s script (hosting, views, replay)')
    if (missing) throw new VmsError('SANDBOX_UNAVAILABLE', missing)
    this.hooks = hooks
  }

  /** Hand this process to another owner (a spare taken from a node's pool). */
  setHooks(hooks: SandboxHooks): void {
    this.hooks = hooks
  }

  /** Start the process now, so a later load does not wait for it (a warm spare). */
  warm(): void {
    if (!this.closed && !this.unavailable) this.spawn()
  }

  check(script: string, filename: string): Promise<string | null> {
    return this.request({ t: 'check', id: 0, script, filename })
  }

  load(config: SandboxConfig, time: number, seed: Uint8Array): Promise<{ methods: string[]; views: string[]; result: RunResult }> {
    return this.request({ t: 'load', id: 0, config, time, seed })
  }

  /**
   * Run calls in order, the whole batch within `timeoutMs`. Results arrive
   * through `onResults` in order, before any read the sandbox makes for a later
   * call. Resolves when all ran, or early with `recycled` when the isolate was
   * dropped (a limit): then fewer results arrived than calls were given, and
   * the last one is a limit result if the culprit is known. Rejects with
   * SANDBOX_CRASHED if the process died: results delivered before that stand.
   */
  run(calls: CallInput[], timeoutMs: number, onResults: (results: RunResult[]) => void): Promise<{ recycled: boolean }> {
    return this.request({ t: 'run', id: 0, calls, timeoutMs }, onResults)
  }

  async close(): Promise<void> {
    this.closed = true
    const child = this.child
    if (!child) return
    this.child = null
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve())
      child.kill('SIGKILL')
    })
  }

  private request(msg: ToChild & { id: number }, onResults?: (results: RunResult[]) => void): Promise<any> {
    if (this.closed) return Promise.reject(new VmsError('CLOSED', 'the sandbox is closed'))
    if (this.unavailable) return Promise.reject(this.unavailable)
    const child = this.spawn()
    const id = this.nextId++
    msg.id = id
    return new Promise((resolve, reject) => {
      this.waiters.set(id, { resolve, reject, onResults })
      child.send(msg)
    })
  }

  private spawn(): ChildProcess {
    if (this.child) return this.child
    this.spawns++
    const child = fork(CHILD, [], {
      execArgv: ['--no-node-snapshot'],
      // A fixed zone and locale: Date and Intl must read the same for host and auditor.
      env: { TZ: 'UTC', LANG: 'C', LC_ALL: 'C' },
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    })
    child.on('message', (msg: ToParent) => this.onMessage(msg))
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = null
      const err = new VmsError('SANDBOX_CRASHED', `the sandbox process exited (${signal ?? 'code ' + code}); it is restarted on the next call`)
      const waiters = [...this.waiters.values()]
      this.waiters.clear()
      for (const w of waiters) w.reject(err)
    })
    child.on('error', () => {}) // 'exit' follows and reports
    this.child = child
    return child
  }

  private onMessage(msg: ToParent): void {
    switch (msg.t) {
      case 'log':
        this.hooks.log(msg.level, msg.message)
        return
      case 'unavailable': {
        this.unavailable = new VmsError('SANDBOX_UNAVAILABLE', `isolated-vm did not load under Node ${process.versions.node} (${msg.message}): ` +
          'reinstall it under this Node (npm install isolated-vm@7; prebuilt for Node 24 and 26)')
        const waiters = [...this.waiters.values()]
        this.waiters.clear()
        for (const w of waiters) w.reject(this.unavailable)
        return
      }
      case 'read':
        this.hooks.read(msg.op, msg.path, msg.arg).then(
          (value) => this.child?.send({ t: 'reply', rid: msg.rid, value }),
          (err: Error & { code?: string }) => this.child?.send({ t: 'reply', rid: msg.rid, error: { message: err.message, code: err.code ?? 'EIO' } })
        )
        return
      case 'results': {
        const w = this.waiters.get(msg.id)
        if (!w) return
        if (msg.results.length > 0) w.onResults?.(msg.results)
        if (msg.done) { this.waiters.delete(msg.id); w.resolve({ recycled: msg.recycled }) }
        return
      }
      case 'checked':
      case 'loaded':
      case 'failed': {
        const w = this.waiters.get(msg.id)
        if (!w) return
        this.waiters.delete(msg.id)
        if (msg.t === 'failed') w.reject(new VmsError('SANDBOX_CRASHED', msg.message))
        else if (msg.t === 'checked') w.resolve(msg.error)
        else w.resolve({ methods: msg.methods, views: msg.views, result: msg.result })
      }
    }
  }
}
