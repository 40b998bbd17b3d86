/**
 * vms-node, the command line: a thin shell over the library.
 * (Serving, calling and mirroring over the swarm come with the swarm node.)
 */
import { command, flag, summary, bail } from 'paparam'
import { readFile as readText } from 'node:fs/promises'
import { VmsError } from '../errors.js'
import { failureExit, onBail } from './fail.js'
import { serveCmd } from './commands/serve.js'
import { callCmd } from './commands/call.js'
import { filesCmd } from './commands/files.js'
import { infoCmd } from './commands/info.js'
import { replCmd } from './commands/repl.js'
import { auditCmd } from './commands/audit.js'
import { verifyReportCmd } from './commands/verify-report.js'
import { mirrorCmd } from './commands/mirror.js'
import { deployCmd } from './commands/deploy.js'
import { lsCmd } from './commands/ls.js'
import { stopCmd } from './commands/stop.js'
import { whoamiCmd } from './commands/whoami.js'
import { testnetCmd } from './commands/testnet.js'
import { createCmd } from './commands/create.js'
import { logCmd } from './commands/log.js'
import { replayCmd } from './commands/replay.js'
import { combineCmd } from './commands/combine.js'
import { upgradeCmd } from './commands/upgrade.js'
import { gatewayCmd } from './commands/gateway.js'

// Output piped into a command that stops reading (`vms-node log DIR | head`): stop quietly, as Unix tools do.
process.stdout.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') process.exit(0); else throw err })

process.on('unhandledRejection', (err) => {
  console.error(`vms-node: ${err instanceof VmsError ? err.message : (err as Error)?.stack ?? err}`)
  process.exit(failureExit)
})

const cli = command('vms-node', summary('Auditable services: a sandboxed script, a signed call log, a files archive, replay'), bail(onBail),
  flag('--version|-v', 'print the version'),
  serveCmd, callCmd, upgradeCmd, filesCmd, infoCmd, replCmd, auditCmd, verifyReportCmd, mirrorCmd, gatewayCmd, deployCmd, lsCmd, stopCmd, whoamiCmd, testnetCmd, createCmd, logCmd, replayCmd, combineCmd,
  // No command: the version if asked, else what there is to do.
  async () => {
    if (cli.flags.version) {
      const pkg = JSON.parse(await readText(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
      console.log(`vms-node ${pkg.version}`)
    } else {
      console.log(cli.help())
    }
  })

cli.parse()
