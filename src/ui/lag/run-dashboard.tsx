/**
 * Wires the dashboard to a terminal: the polling service feeds the reducer, keys feed it too,
 * resizes re-render at the new size. Ink 8 draws on the alternate screen (the shell's screen
 * comes back on exit) at most 10 frames a second; polls never overlap (pollLoop), and a paused
 * dashboard does not poll at all.
 */
import {render, useApp, useInput, useStdout} from 'ink'
import {useEffect, useReducer, useRef, useState} from 'react'

import {type LagSource, pollLoop} from '../../lib/lag/lag-service.js'
import type {LagView} from '../../lib/lag/lag-tracker.js'
import {dashboardReducer, initialState, isQuit} from './dashboard-state.js'
import {LagDashboard} from './LagDashboard.js'

export interface DashboardOptions {
  intervalMs: number
  /** Aborted by SIGINT/SIGTERM from outside: the dashboard closes. */
  signal: AbortSignal
  onlyLagging: boolean
  brokers: readonly string[]
  /** A line of cluster health, refreshed by the caller's own schedule. */
  health?: () => Promise<{text: string; ok: boolean} | undefined>
}

interface AppProps extends DashboardOptions {
  source: LagSource
}

function useTerminalSize(): {columns: number; rows: number} {
  const stdout = useStdout().stdout as NodeJS.WriteStream
  const read = () => ({columns: stdout.columns || 100, rows: stdout.rows || 30})
  const [size, setSize] = useState(read)
  useEffect(() => {
    const onResize = () => setSize(read())
    stdout.on('resize', onResize)
    return () => {
      stdout.off('resize', onResize)
    }
  }, [stdout])
  return size
}

export function LagDashboardApp({source, intervalMs, signal, onlyLagging, brokers, health}: AppProps) {
  const {exit} = useApp()
  const {columns, rows} = useTerminalSize()
  const [state, dispatch] = useReducer(dashboardReducer, initialState({onlyLagging}))
  const [healthLine, setHealthLine] = useState<{text: string; ok: boolean}>()
  const paused = useRef(false)
  paused.current = state.paused

  useInput((input, key) => {
    const press = {input, upArrow: key.upArrow, downArrow: key.downArrow, return: key.return, escape: key.escape, backspace: key.backspace, delete: key.delete, ctrl: key.ctrl}
    if (isQuit(state, press)) exit()
    else dispatch({type: 'key', key: press})
  })

  useEffect(() => {
    const stop = new AbortController()
    const onAbort = () => exit()
    signal.addEventListener('abort', onAbort, {once: true})
    let last: LagView | undefined
    let polls = 0
    void pollLoop(
      {
        poll: async () => {
          if (paused.current && last !== undefined) return last
          const started = Date.now()
          last = await source.poll()
          dispatch({type: 'view', view: last, pollMs: Date.now() - started})
          // The cluster's health changes slowly: every fifth poll is often enough.
          if (health !== undefined && polls++ % 5 === 0) void health().then(setHealthLine, () => undefined)
          return last
        },
        close: async () => undefined,
      },
      {
        intervalMs,
        signal: stop.signal,
        onError: (error) => {
          dispatch({type: 'error', message: (error as Error).message})
          return true
        },
      },
    )
    return () => {
      stop.abort()
      signal.removeEventListener('abort', onAbort)
    }
  }, [])

  return <LagDashboard state={state} width={columns} height={rows} intervalMs={intervalMs} brokers={brokers} health={healthLine} />
}

export async function runLagDashboard(source: LagSource, options: DashboardOptions): Promise<void> {
  // interactive: Ink turns a live render into one final frame whenever a CI variable is set (CI,
  // CI_*, …), even on a terminal; --watch was asked for and lag.ts only comes here on a TTY.
  const instance = render(<LagDashboardApp source={source} {...options} />, {alternateScreen: true, interactive: true, exitOnCtrlC: false, maxFps: 10, patchConsole: false})
  await instance.waitUntilExit()
}
