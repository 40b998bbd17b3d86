import test from 'brittle'
import { StatusLine } from '../src/cli/status-line.js'

/** A stand-in for process.stderr: what was written, and whether it is a terminal. */
function stream(isTTY: boolean): NodeJS.WriteStream & { text: string } {
  const s = { isTTY, text: '', write(chunk: string) { s.text += chunk; return true } }
  return s as unknown as NodeJS.WriteStream & { text: string }
}

test('status line: on a terminal, redrawn in place and kept at the end', (t) => {
  const out = stream(true)
  const status = new StatusLine(out)
  status.update('replaying 10%')
  status.update('replaying 100%')
  t.is(out.text, '\rreplaying 10%\x1b[K\rreplaying 100%\x1b[K', 'each update overwrites the line and erases what was left of the longer one')
  status.clear()
  t.is(out.text.slice(-4), '\r\x1b[K', 'clear() empties the line before other output')
  status.update('held')
  status.end()
  t.ok(out.text.endsWith('held\x1b[K\n'), 'end() keeps the last status on a line of its own')
})

test('status line: to a file or pipe, whole lines, at most one per interval, the last one at the end', (t) => {
  const out = stream(false)
  const status = new StatusLine(out, 60000)
  status.update('replaying 0%')
  status.update('replaying 50%')
  status.update('replaying 100%')
  t.is(out.text, 'replaying 0%\n', 'the first update prints at once; the next ones wait for the interval')
  status.clear()
  t.is(out.text, 'replaying 0%\n', 'nothing to clear off a file')
  status.end()
  t.is(out.text, 'replaying 0%\nreplaying 100%\n', 'the last status is printed when the work ends')
  status.end()
  t.is(out.text, 'replaying 0%\nreplaying 100%\n', 'and only once')
})

test('status line: to a file, an update held back is printed when the interval is up, without another update', async (t) => {
  const out = stream(false)
  const status = new StatusLine(out, 200)
  status.update('verified up to entry 4; following…')
  status.update('verified up to entry 7; following…')
  t.is(out.text, 'verified up to entry 4; following…\n', 'the second waits for the interval')
  await new Promise((resolve) => setTimeout(resolve, 400))
  t.is(out.text, 'verified up to entry 4; following…\nverified up to entry 7; following…\n', 'and then comes on its own: a quiet follower still shows where it is')
  status.update('verified up to entry 9; following…')
  status.end()
  t.is(out.text.split('\n').filter(Boolean).length, 3, 'end() prints what is held, once, and stops the timer')
  await new Promise((resolve) => setTimeout(resolve, 400))
  t.is(out.text.split('\n').filter(Boolean).length, 3, 'nothing after the end')
})
