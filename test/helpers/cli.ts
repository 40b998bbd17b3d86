import { spawn } from 'node:child_process'

/** The CLI as users run it. */
export const BIN = new URL('../../../bin/vms-node.js', import.meta.url).pathname

export interface CliResult { code: number | null; out: string; err: string }

/** Run `vms-node ARGS…` to its end, with `env` added to the environment and `input` on stdin. */
export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env }
    })
    let out = ''
    let err = ''
    child.stdout!.on('data', (d) => { out += d })
    child.stderr!.on('data', (d) => { err += d })
    child.on('exit', (code) => resolve({ code, out, err }))
    if (opts.input !== undefined) child.stdin!.end(opts.input)
  })
}

/** Call `fn` with each whole line a child process writes to `stream`. */
export function onLines(stream: NodeJS.ReadableStream, fn: (line: string) => void): void {
  let buf = ''
  stream.on('data', (d) => {
    buf += d
    let i
    while ((i = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, i)
      buf = buf.slice(i + 1)
      fn(line)
    }
  })
}
