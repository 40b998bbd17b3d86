/** How the command line fails: a message on stderr, and the exit status the command promises. */

/**
 * The exit status of a command that fails, bad arguments included: 1, but 2
 * ("could not finish") for replay and audit, whose 1 says "a divergence".
 */
export const failureExit = ['replay', 'audit'].includes(process.argv.slice(2).find((a) => !a.startsWith('-')) ?? '') ? 2 : 1

export function fail(message: string): never {
  console.error(`vms-node: ${message}`)
  process.exit(failureExit)
}

/** Every command's failures end here: an error a command threw, or bad arguments (paparam's bail). */
export function onBail(b: { reason: string; flag?: { name: string } | null; arg?: { value: string } | null; err?: unknown }): never {
  if (b.err) fail((b.err as Error)?.message ?? String(b.err))
  // A flag that takes a value, given none (`--from` last, or `--from -3`: "-3" reads as a flag).
  if (b.reason === 'INVALID_FLAG' && b.flag) {
    const name = '--' + b.flag.name.replace(/[A-Z]/g, (ch) => '-' + ch.toLowerCase())
    fail(`${name} needs a value (one starting with "-" reads as a flag: write ${name}=VALUE; see vms-node <command> --help)`)
  }
  const what = b.flag ? `${b.reason}: ${b.flag.name}` : b.arg ? `${b.reason}: ${b.arg.value}` : b.reason
  fail(`${what.replace(/^[A-Z_]+: /, (m) => m.toLowerCase().replace(/_/g, ' '))} (see vms-node <command> --help)`)
}
