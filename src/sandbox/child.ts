/**
 * The sandbox process: runs a VM's isolate (isolated-vm) away from the host's
 * state. Started by SandboxProcess with --no-node-snapshot and a fixed
 * TZ/locale. If a script brings it down, the host only loses this process.
 */
import type IVM from 'isolated-vm'
import { installRuntime } from './runtime.js'
import { textCodecs } from './text-codecs.js'
import { canonicalStringify } from '../canonical-json.js'
import { nameHash } from '../files/name-hash.js'
import type { CallInput, RunResult, ToChild, ToParent, SandboxConfig, ReadOp } from './protocol.js'

const RUNTIME = `(${installRuntime.toString()})`
const CANONICAL = `(${canonicalStringify.toString()})`
const NAME_HASH = `(${nameHash.toString()})`
const CODECS = `(${textCodecs.toString()})`

let isolate: IVM.Isolate | null = null
let callRef: IVM.Reference<any> | null = null
let methodsRef: IVM.Reference<any> | null = null
let batchRef: IVM.Reference<any> | null = null
let takeRef: IVM.Reference<any> | null = null
let config: SandboxConfig | null = null

let nextRid = 0
const reads = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>()
let runningId = -1

function send(msg: ToParent): void {
  process.send!(msg)
}

// isolated-vm is installed (the host checked) but its binary may not load: a
// Node it has no build for (node_modules installed under another Node), a
// damaged install. The host is told why, instead of seeing this process die.
let ivm: typeof IVM
try {
  ivm = (await import('isolated-vm')).default
} catch (err) {
  send({ t: 'unavailable', message: String((err as Error)?.message ?? err).split('\n')[0]! })
  process.exit(0)
}

// The isolate hands over the results of finished calls with each read, so the
// host knows their writes before it answers.
function hostRead(op: ReadOp, path: string, finished: RunResult[] | null, arg?: string): Promise<unknown> {
  if (finished && finished.length > 0 && runningId !== -1) send({ t: 'results', id: runningId, results: finished, done: false, recycled: false })
  const rid = nextRid++
  return new Promise((resolve, reject) => {
    reads.set(rid, { resolve: (v) => resolve(new ivm.ExternalCopy(v).copyInto()), reject })
    send({ t: 'read', rid, op, path, arg })
  })
}

function disposeIsolate(): void {
  if (isolate && !isolate.isDisposed) isolate.dispose()
  isolate = null
  callRef = methodsRef = batchRef = takeRef = null
}

function limitResult(code: string, message: string): RunResult {
  return { ok: false, limit: true, value: '', error: { name: 'LimitError', code, message }, ops: [], oracles: [] }
}

function classify(err: unknown): RunResult {
  const message = (err as Error)?.message ?? String(err)
  if (isolate?.isDisposed || /memory limit/i.test(message)) {
    return limitResult('MEMORY_LIMIT', `the call used more than the VM's memory limit (${config?.memoryMb} MB)`)
  }
  if (/timed out/i.test(message)) {
    return limitResult('TIMEOUT', `the call ran longer than the VM's time limit (${config?.timeoutMs} ms)`)
  }
  return limitResult('SANDBOX_ERROR', `the sandbox failed: ${message}`)
}

async function load(cfg: SandboxConfig, time: number, seed: Uint8Array): Promise<{ methods: string[]; views: string[]; result: RunResult }> {
  disposeIsolate()
  config = cfg
  isolate = new ivm.Isolate({ memoryLimit: cfg.memoryMb })
  const context = await isolate.createContext()
  const g = context.global
  await g.set('globalThis', g.derefInto())
  await g.set('__vmsRead', new ivm.Reference(hostRead))
  await g.set('__vmsLog', new ivm.Reference((level: string, message: string) => send({ t: 'log', level, message })))
  await g.set('__vmsCfg', new ivm.ExternalCopy({ apiVersion: cfg.apiVersion, filename: cfg.filename, maxResultBytes: cfg.maxResultBytes, maxFileBytes: cfg.maxFileBytes, memoryMb: cfg.memoryMb, readOnly: !!cfg.readOnly, oracles: cfg.oracles ?? [] }).copyInto())
  await context.eval(`globalThis.__vmsRuntime = ${RUNTIME}(globalThis, __vmsRead, __vmsLog, ${CANONICAL}, ${NAME_HASH}, ${CODECS}(), __vmsCfg);
    delete globalThis.__vmsRead; delete globalThis.__vmsLog; delete globalThis.__vmsCfg`)
  const rt = await g.get('__vmsRuntime', { reference: true })
  callRef = await rt.get('call', { reference: true })
  methodsRef = await rt.get('methods', { reference: true })
  batchRef = await rt.get('runBatch', { reference: true })
  takeRef = await rt.get('take', { reference: true })
  const begin = await rt.get('begin', { reference: true })
  await context.eval('delete globalThis.__vmsRuntime')

  // The script's top level and init run as one load step, with the load's time and seed.
  await begin.apply(undefined, ['', time, Array.from(seed)], { arguments: { copy: true } })
  let result: RunResult
  try {
    const script = await isolate.compileScript(cfg.script, { filename: cfg.filename })
    await script.run(context, { timeout: cfg.timeoutMs })
    result = await callRef!.apply(undefined, ['init', '', '', time, Array.from(seed), false], {
      timeout: cfg.timeoutMs, arguments: { copy: true }, result: { promise: true, copy: true }
    }) as RunResult
    // An upgrade's load: then migrate(fromVersion), once, with write access; one outcome, the writes of both.
    if (result.ok && cfg.migrateFrom !== undefined) {
      const migrated = await callRef!.apply(undefined, ['migrate', JSON.stringify([cfg.migrateFrom]), '', time, Array.from(seed), false], {
        timeout: cfg.timeoutMs, arguments: { copy: true }, result: { promise: true, copy: true }
      }) as RunResult
      result = migrated.ok ? { ...migrated, ops: [...result.ops, ...migrated.ops], oracles: [] } : migrated
    }
  } catch (err) {
    const e = err as Error
    result = isolate.isDisposed || /timed out/.test(e.message)
      ? classify(err)
      : { ok: false, limit: false, value: '', error: { name: e.name || 'Error', message: e.message, code: '' }, ops: [], oracles: [] }
  }
  const { methods, views } = isolate && !isolate.isDisposed
    ? await methodsRef!.apply(undefined, [], { result: { copy: true } }) as { methods: string[]; views: string[] }
    : { methods: [], views: [] }
  if (result.limit) disposeIsolate()
  return { methods, views, result }
}

/**
 * Run calls in one entry into the isolate. If the batch runs out of time, the
 * call that was running is only known to be at fault when it ran alone (first
 * in the batch); otherwise the host retries the rest one by one after a reload.
 */
async function run(id: number, calls: CallInput[], timeoutMs: number): Promise<void> {
  runningId = id
  const results: RunResult[] = []
  let recycled = false
  try {
    if (!batchRef) {
      results.push(limitResult('SANDBOX_ERROR', 'the sandbox has no loaded script'))
      recycled = true
      return
    }
    const input = calls.map((c) => [c.method, c.args, c.callerId, c.time, Array.from(c.seed)])
    try {
      const rs = await batchRef.apply(undefined, [input], {
        timeout: timeoutMs, arguments: { copy: true }, result: { promise: true, copy: true }
      }) as RunResult[]
      for (const r of rs) results.push(r)
      if (rs.length > 0 && rs[rs.length - 1]!.limit) recycled = true
    } catch (err) {
      recycled = true
      const limit = classify(err)
      if (isolate && !isolate.isDisposed && takeRef) {
        const { results: done, running } = await takeRef.apply(undefined, [], { result: { copy: true } }) as { results: RunResult[]; running: number }
        for (const r of done) results.push(r)
        if (running === 0) results.push(limit)
      } else if (calls.length === 1) {
        results.push(limit)
      }
    }
  } finally {
    if (recycled) disposeIsolate()
    send({ t: 'results', id, results, done: true, recycled })
    runningId = -1
  }
}

async function check(script: string, filename: string): Promise<string | null> {
  const iso = new ivm.Isolate({ memoryLimit: 32 })
  try {
    await iso.compileScript(script, { filename })
    return null
  } catch (err) {
    return (err as Error).message
  } finally {
    iso.dispose()
  }
}

process.on('message', (msg: ToChild) => {
  switch (msg.t) {
    case 'reply': {
      const r = reads.get(msg.rid)
      if (!r) return
      reads.delete(msg.rid)
      if (msg.error) {
        const err = new Error(msg.error.message) as Error & { code: string }
        err.code = msg.error.code
        r.reject(err)
      } else {
        r.resolve(msg.value)
      }
      return
    }
    case 'check':
      check(msg.script, msg.filename).then((error) => send({ t: 'checked', id: msg.id, error }))
      return
    case 'load':
      load(msg.config, msg.time, msg.seed).then(
        ({ methods, views, result }) => send({ t: 'loaded', id: msg.id, methods, views, result }),
        (err) => send({ t: 'failed', id: msg.id, message: (err as Error).message })
      )
      return
    case 'run':
      run(msg.id, msg.calls, msg.timeoutMs).catch((err) => send({ t: 'failed', id: msg.id, message: (err as Error).message }))
  }
})

process.on('disconnect', () => process.exit(0))
