/**
 * A progress line on stderr. On a terminal it is redrawn in place; anywhere
 * else (a file, a pipe, a service's journal) each update would pile up on one
 * endless line, so it prints whole lines instead, at most one per `everyMs`:
 * an update held back is printed when the interval is up (a follower that
 * goes quiet still shows where it stopped), or when the work ends.
 */
export class StatusLine {
  private stream: NodeJS.WriteStream
  private everyMs: number
  private shown = false
  private printedAt = -Infinity
  private pending: string | null = null
  private timer: ReturnType<typeof setTimeout> | null = null

  constructor(stream: NodeJS.WriteStream = process.stderr, everyMs = 2000) {
    this.stream = stream
    this.everyMs = everyMs
  }

  get tty(): boolean {
    return this.stream.isTTY === true
  }

  update(text: string): void {
    if (this.tty) {
      this.stream.write('\r' + text + '\x1b[K')
      this.shown = true
      return
    }
    const now = Date.now()
    if (now - this.printedAt < this.everyMs) {
      this.pending = text
      if (this.timer === null) {
        this.timer = setTimeout(() => this.flush(), this.printedAt + this.everyMs - now)
        this.timer.unref?.()
      }
      return
    }
    this.printedAt = now
    this.pending = null
    this.stream.write(text + '\n')
  }

  /** The interval is up: print the update held back, if one still is. */
  private flush(): void {
    this.timer = null
    if (this.pending === null) return
    this.printedAt = Date.now()
    this.stream.write(this.pending + '\n')
    this.pending = null
  }

  /** Before a line of other output: take the status off the terminal's line (it comes back at the next update). */
  clear(): void {
    if (this.tty && this.shown) this.stream.write('\r\x1b[K')
    this.shown = false
  }

  /** The work ended: its last status stays, as a line of its own. */
  end(): void {
    if (this.tty) {
      if (this.shown) this.stream.write('\n')
      this.shown = false
    } else {
      if (this.timer !== null) clearTimeout(this.timer)
      this.timer = null
      if (this.pending !== null) this.stream.write(this.pending + '\n')
      this.pending = null
    }
  }
}
