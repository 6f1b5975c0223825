/**
 * Typed errors and the one mapping to kpipe's exit codes (DESIGN §2).
 * Services throw these; only the base command turns them into output and an exit code.
 */
export const ExitCode = {
  ok: 0,
  checkFailed: 1,
  usage: 2,
  unreachable: 3,
  internal: 70,
} as const
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]

export type ErrorKind = 'check' | 'usage' | 'config' | 'unreachable' | 'internal'

export class KpipeError extends Error {
  readonly kind: ErrorKind
  readonly exitCode: ExitCodeValue
  /** What the user can do about it, printed after the message. */
  readonly hint?: string

  constructor(kind: ErrorKind, message: string, options: {hint?: string; cause?: unknown} = {}) {
    super(message, {cause: options.cause})
    this.name = new.target.name
    this.kind = kind
    this.hint = options.hint
    this.exitCode = exitCodeOf(kind)
  }
}

function exitCodeOf(kind: ErrorKind): ExitCodeValue {
  switch (kind) {
    case 'check':
      return ExitCode.checkFailed
    case 'usage':
    case 'config':
      return ExitCode.usage
    case 'unreachable':
      return ExitCode.unreachable
    case 'internal':
      return ExitCode.internal
  }
}

/**
 * A check ran and found something unhealthy (lag, drift, refused change, integrity mismatch).
 * `result` is the command's full result: under --json it is printed instead of an error object,
 * so a script reads the same document whether the check passed or not.
 */
export class CheckFailedError extends KpipeError {
  readonly result?: unknown
  constructor(message: string, options: {hint?: string; cause?: unknown; result?: unknown} = {}) {
    super('check', message, options)
    this.result = options.result
  }
}

/** Bad flags or arguments. */
export class UsageError extends KpipeError {
  constructor(message: string, options: {hint?: string; cause?: unknown} = {}) {
    super('usage', message, options)
  }
}

/** Invalid configuration: names the key and where it came from. */
export class ConfigError extends KpipeError {
  constructor(message: string, options: {hint?: string; cause?: unknown} = {}) {
    super('config', message, options)
  }
}

/** Kafka, PostgreSQL, Redis or BigQuery cannot be reached or refused authentication. */
export class DependencyError extends KpipeError {
  readonly dependency: Dependency
  constructor(dependency: Dependency, message: string, options: {hint?: string; cause?: unknown} = {}) {
    super('unreachable', message, options)
    this.dependency = dependency
  }
}
export type Dependency = 'kafka' | 'postgres' | 'redis' | 'bigquery'

/** A bug in kpipe. */
export class InternalError extends KpipeError {
  constructor(message: string, options: {cause?: unknown} = {}) {
    super('internal', message, {...options, hint: 'This is a bug in kpipe; rerun with --debug and report the stack trace.'})
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message
  return String(err)
}
