/**
 * The sandbox process: runs a VM's isolate (isolated-vm) away from the host's
 * state. Started by SandboxProcess with --no-node-snapshot and a fixed
 * TZ/locale. If a script brings it down, the host only loses this process.
 */
import ivm from 'isolated-vm'
import { installRuntime } from './runtime.js'
import { canonicalStringify } from '../canonical-json.js'
import type { CallInput, RunResult, ToChild, ToParent, SandboxConfig, ReadOp } from './protocol.js'

const RUNTIME = `(${installRuntime.toString()})`
const CANONICAL = `(${canonicalStringify.toString()})`

let isolate: ivm.Isolate | null = null
let callRef: ivm.Reference<any> | null = null
let methodsRef: ivm.Reference<any> | null = null
let config: SandboxConfig | null = null

let nextRid = 0
const reads = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>()
let unsent: RunResult[] = []
let runningId = -1

function send(msg: ToParent): void {
  process.send!(msg)
}

function flushResults(done: boolean): void {
  if (runningId === -1) return
  send({ t: 'results', id: runningId, results: unsent, done })
  unsent = []
}

function hostRead(op: ReadOp, path: string): Promise<unknown> {
  flushResults(false)
  const rid = nextRid++
  return new Promise((resolve, reject) => {
    reads.set(rid, { resolve: (v) => resolve(new ivm.ExternalCopy(v).copyInto()), reject })
    send({ t: 'read', rid, op, path })
  })
}

function disposeIsolate(): void {
  if (isolate && !isolate.isDisposed) isolate.dispose()
  isolate = null
  callRef = null
  methodsRef = null
}

function limitResult(code: string, message: string): RunResult {
  return { ok: false, limit: true, value: '', error: { name: 'LimitError', code, message }, ops: [] }
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

function afterCall(r: RunResult): RunResult {
  if (!r.ok && r.error && r.error.name === 'RangeError' && /Maximum call stack size exceeded/.test(r.error.message)) {
    return limitResult('STACK_OVERFLOW', 'the call overflowed the stack')
  }
  return r
}

async function invoke(call: CallInput, fresh: boolean): Promise<RunResult> {
  const seed = Array.from(call.seed)
  const r = await callRef!.apply(undefined, [call.method, call.args, call.callerId, call.time, seed, fresh], {
    timeout: config!.timeoutMs,
    arguments: { copy: true },
    result: { promise: true, copy: true }
  }) as RunResult
  return afterCall(r)
}

async function load(cfg: SandboxConfig, time: number, seed: Uint8Array): Promise<{ methods: string[]; result: RunResult }> {
  disposeIsolate()
  config = cfg
  isolate = new ivm.Isolate({ memoryLimit: cfg.memoryMb })
  const context = await isolate.createContext()
  const g = context.global
  await g.set('globalThis', g.derefInto())
  await g.set('__vmsRead', new ivm.Reference(hostRead))
  await g.set('__vmsLog', new ivm.Reference((level: string, message: string) => send({ t: 'log', level, message })))
  await g.set('__vmsCfg', new ivm.ExternalCopy({ maxResultBytes: cfg.maxResultBytes, maxFileBytes: cfg.maxFileBytes }).copyInto())
  await context.eval(`globalThis.__vmsRuntime = ${RUNTIME}(globalThis, __vmsRead, __vmsLog, ${CANONICAL}, __vmsCfg);
    delete globalThis.__vmsRead; delete globalThis.__vmsLog; delete globalThis.__vmsCfg`)
  const rt = await g.get('__vmsRuntime', { reference: true })
  callRef = await rt.get('call', { reference: true })
  methodsRef = await rt.get('methods', { reference: true })
  await context.eval('delete globalThis.__vmsRuntime')

  // The script's top level and init run as one load step, with the load's time and seed.
  const begin = await rt.get('begin', { reference: true })
  await begin.apply(undefined, ['', time, Array.from(seed)], { arguments: { copy: true } })
  let result: RunResult
  try {
    const script = await isolate.compileScript(cfg.script, { filename: cfg.filename })
    await script.run(context, { timeout: cfg.timeoutMs })
    result = await invoke({ method: 'init', args: '', callerId: '', time, seed }, false)
  } catch (err) {
    const e = err as Error
    result = isolate.isDisposed || /timed out/.test(e.message)
      ? classify(err)
      : { ok: false, limit: false, value: '', error: { name: e.name || 'Error', message: e.message, code: '' }, ops: [] }
  }
  const methods = isolate && !isolate.isDisposed
    ? await methodsRef!.apply(undefined, [], { result: { copy: true } }) as string[]
    : []
  if (result.limit) disposeIsolate()
  return { methods, result }
}

async function run(id: number, calls: CallInput[]): Promise<void> {
  runningId = id
  try {
    for (const call of calls) {
      if (!callRef) { unsent.push(limitResult('SANDBOX_ERROR', 'the sandbox has no loaded script')); break }
      let r: RunResult
      try {
        r = await invoke(call, true)
      } catch (err) {
        r = classify(err)
      }
      unsent.push(r)
      if (r.limit) { disposeIsolate(); break }
    }
    flushResults(true)
  } finally {
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
        ({ methods, result }) => send({ t: 'loaded', id: msg.id, methods, result }),
        (err) => send({ t: 'failed', id: msg.id, message: (err as Error).message })
      )
      return
    case 'run':
      run(msg.id, msg.calls).catch((err) => send({ t: 'failed', id: msg.id, message: (err as Error).message }))
  }
})

process.on('disconnect', () => process.exit(0))
