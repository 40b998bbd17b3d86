import { command, flag, summary } from 'paparam'
import createTestnet from 'hyperdht/testnet.js'
import { LOCAL_PORT } from '../config.js'
import { fail } from '../fail.js'
import { wholeFlag } from '../flags.js'
import { stopSignal } from '../stop-signal.js'

export const testnetCmd = command(
  'testnet',
  summary('Run a DHT bootstrap node on loopback, for offline use'),
  flag('--port <port>', `UDP port (default ${LOCAL_PORT})`),
  flag('--json', 'machine-readable output'),
  async () => {
    const port = wholeFlag(testnetCmd.flags.port, '--port', 1, String(LOCAL_PORT), 65535) ?? LOCAL_PORT
    const stopped = stopSignal()
    const net = await createTestnet(3, { host: '127.0.0.1', port }).catch((err: Error) => fail(`cannot start a DHT on 127.0.0.1:${port}: ${err.message}`))
    const where = `127.0.0.1:${net.bootstrap[0]!.port}`
    if (testnetCmd.flags.json) console.log(JSON.stringify({ event: 'testnet', bootstrap: where }))
    else console.log(`DHT bootstrap on ${where}\n  use: --bootstrap ${where}   (or VMS_BOOTSTRAP=${where})`)
    await stopped
    await net.destroy()
  }
)
