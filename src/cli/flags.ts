/** Flags several commands share, and the checks of what they were given. */
import { flag } from 'paparam'
import { fail } from './fail.js'

/** A flag that takes a whole number (undefined if not given); anything else fails, saying what it takes. */
export function wholeFlag(value: unknown, flagName: string, min: number, example: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined
  const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    fail(`${flagName} ${String(value)} is not a whole number${max < Number.MAX_SAFE_INTEGER ? ` from ${min} to ${max}` : ` of at least ${min}`} (say ${flagName} ${example})`)
  }
  return n
}

/**
 * paparam hands everything after the first rest argument to the rest,
 * flags included: take known flags back out of it.
 */
export function restAndFlags(cmd: { rest: string[] | null; flags: Record<string, any> }, valued: string[], booleans: string[], multiple: string[] = []): string[] {
  const out: string[] = []
  const rest = cmd.rest ?? []
  // paparam names flags in camelCase (--allow-deploy → allowDeploy).
  const camel = (n: string) => n.replace(/-([a-z])/g, (_, ch: string) => ch.toUpperCase())
  valued = valued.map(camel)
  booleans = booleans.map(camel)
  multiple = multiple.map(camel)
  for (const m of multiple) if (cmd.flags[m] !== undefined && !Array.isArray(cmd.flags[m])) cmd.flags[m] = [cmd.flags[m]]
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!
    // `--` ends the flags: what follows is arguments, `--view` or `-5` included.
    if (a === '--') { out.push(...rest.slice(i + 1)); break }
    const name = camel(a.replace(/^--/, ''))
    if (a.startsWith('--') && (multiple.includes(name) || valued.includes(name)) && i + 1 === rest.length) fail(`${a} needs a value (see vms-node <command> --help)`)
    if (a.startsWith('--') && multiple.includes(name) && i + 1 < rest.length) (cmd.flags[name] ??= []).push(rest[++i])
    else if (a.startsWith('--') && valued.includes(name) && i + 1 < rest.length) cmd.flags[name] = rest[++i]
    else if (a.startsWith('--') && booleans.includes(name)) cmd.flags[name] = true
    else out.push(a)
  }
  return out
}

export const netFlags = [
  flag('--bootstrap <list>', 'DHT bootstrap nodes, host:port[,host:port…] (or VMS_BOOTSTRAP)'),
  flag('--local', `use a loopback DHT on 127.0.0.1 (started if none answers)`),
  flag('--json', 'machine-readable output: one JSON object per line')
]

export const identityFlag = flag('--identity <file>', 'caller identity file (default: $VMS_HOME/identity.json; made on first use)')
const timeoutFlag = flag('--timeout <ms>', 'give up after this long (default 15000)')
export const clientFlags = [...netFlags, identityFlag, timeoutFlag]
/** Commands that only read (files, info) sign nothing: no identity. */
export const readerFlags = [...netFlags, timeoutFlag]

export const manageFlags = [...clientFlags, flag('--to <node>', 'the node\'s key (printed by `serve --allow-deploy`)')]
