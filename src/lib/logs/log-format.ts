/**
 * How `kpipe logs search` prints a record for people: one line, `time level service message
 * [correlation id]`, coloured by level on a terminal. Pure (the caller decides on colour).
 */
import {styleText} from 'node:util'

import type {LogRecord} from './search-query.js'

type Style = Parameters<typeof styleText>[0]

const LEVEL_STYLES: Record<string, Style> = {
  trace: 'gray',
  debug: 'cyan',
  info: 'green',
  warn: 'yellow',
  error: 'red',
  fatal: ['bgRed', 'white', 'bold'],
}

/**
 * One line per record, whatever the message holds: newlines become `\n`, and other control
 * characters (ANSI escapes included, which could rewrite the terminal) become `\xNN`.
 */
export function formatLogLine(record: LogRecord, options: {color: boolean}): string {
  const paint = (style: Style, text: string) => (options.color ? styleText(style, text, {validateStream: false}) : text)
  const level = record.level.toUpperCase().padEnd(5)
  const parts = [
    paint('dim', record.ts),
    paint(LEVEL_STYLES[record.level] ?? 'reset', level),
    paint('bold', escapeControls(record.service)),
    escapeControls(record.message),
  ]
  if (record.correlationId !== null) parts.push(paint('dim', `[${escapeControls(record.correlationId)}]`))
  return parts.join(' ')
}

// C0 controls but tab, DEL, and C1 controls (U+0080–U+009F: some terminals read U+009B as CSI).
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g

export function escapeControls(text: string): string {
  return text.replace(CONTROLS, (c) => {
    if (c === '\n') return '\\n'
    if (c === '\r') return '\\r'
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`
  })
}
