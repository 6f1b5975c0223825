/** Runs the built CLI (bin/run.js) the way a user or a script does, and captures the result. */
import {spawn, type ChildProcess} from 'node:child_process'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const binRun = path.join(repoRoot, 'bin', 'run.js')

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
  durationMs: number
}

/**
 * `bin`: an installed `kpipe` executable to run instead of this checkout's bin/run.js; it is run
 * as a shell would, so its shebang finds node on PATH. `onSpawn` sees the child process as soon
 * as it exists (to sample its memory, say).
 */
export async function runCli(
  args: string[],
  options: {env?: NodeJS.ProcessEnv; input?: string; cwd?: string; timeoutMs?: number; bin?: string; onSpawn?: (child: ChildProcess) => void} = {},
): Promise<CliResult> {
  const started = Date.now()
  const [command, argv] = options.bin ? [options.bin, args] : [process.execPath, [binRun, ...args]]
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, {
      cwd: options.cwd ?? repoRoot,
      env: {...process.env, ...options.env},
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    options.onSpawn?.(child)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({code, stdout, stderr, durationMs: Date.now() - started})
    })
    // A command that exits before reading its input (a usage error, say) makes this write fail
    // with EPIPE; its exit code and stderr are the result, so the write error is not a second one.
    child.stdin.on('error', () => undefined)
    child.stdin.end(options.input ?? '')
  })
}

/** Parses stdout as the one JSON document a --json command prints. */
export function json<T = Record<string, unknown>>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T
  } catch {
    throw new Error(`stdout is not one JSON document (exit ${result.code}):\n${result.stdout}\nstderr:\n${result.stderr}`)
  }
}

/** Writes a kpipe.yaml into a fresh temporary directory and returns its path. */
export function writeConfig(text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'kpipe-e2e-'))
  const file = path.join(dir, 'kpipe.yaml')
  writeFileSync(file, text)
  return file
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`
}
