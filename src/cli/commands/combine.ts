import { command, flag, rest, summary, description } from 'paparam'
import { readFile as readText } from 'node:fs/promises'
import { combineReports, type ReplayReport } from '../../audit/replay.js'
import { fail } from '../fail.js'
import { restAndFlags } from '../flags.js'
import { stateFromJson, reportToJson, printReport } from '../reports.js'

export const combineCmd = command(
  'combine',
  summary('Combine the --json reports of stretches audited apart (several processes or machines) into one verdict'),
  description('The stretches must follow one another, each must have checked out, and each must start from the files state the one before it ended with.'),
  rest('[...files]', 'report files (one JSON report each, from `replay --json` or `audit --json`)'),
  flag('--json', 'print the combined report as one JSON object'),
  async () => {
    const files = restAndFlags(combineCmd, [], ['json'])
    if (files.length === 0) fail('give the report files to combine')
    const parts: ReplayReport[] = []
    for (const f of files) {
      const text = await readText(f, 'utf8').catch(() => fail(`cannot read ${f}`))
      let r: any
      try { r = JSON.parse(text.trim().split('\n').pop()!) } catch { fail(`${f} is not a JSON report (make it with --json)`) }
      parts.push({ ...r, start: stateFromJson(r.start), files: stateFromJson(r.files) })
    }
    const whole = (() => { try { return combineReports(parts) } catch (err) { return fail((err as Error).message) } })()
    if (combineCmd.flags.json) console.log(JSON.stringify({ ...(reportToJson(whole) as object), gap: whole.gap }))
    else if (whole.gap) console.log(`NOT COMBINED: ${whole.gap}`)
    else printReport(whole, false)
    process.exitCode = whole.gap ? 1 : whole.ok ? 0 : whole.divergence ? 1 : 2
  }
)
