import test from 'brittle'
import { spawn } from 'node:child_process'

const DEMO = new URL('../examples/demo.js', import.meta.url).pathname

test('demo: `npm run demo` runs the main job end to end and prints each step', async (t) => {
  const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn(process.execPath, ['--no-node-snapshot', DEMO], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d) => { out += d })
    child.on('exit', (code) => resolve({ code, out }))
  })
  t.is(code, 0, out)
  for (const step of ['1. a local DHT on loopback', '2. the host serves rsvp.js', '3. alice dialled the key', '3. bob dialled the key', '4. the RSVPs', '5. auditing the call log by replay', '6. a volunteer that knows only the key']) {
    t.ok(out.includes(step), step)
  }
  t.ok(out.includes('"reason":"Why tho?"') && out.includes('"reason":"wouldn\'t miss it"'), 'both RSVPs read back')
  t.ok(/verified: entries 1–3, 2 calls/.test(out), 'the replay verified both calls')
  t.ok(out.includes('1 auditor'), 'alice learns one auditor vouches for her entry')
})
