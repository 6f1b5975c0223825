import {Flags} from '@oclif/core'

import {BaseCommand} from '../../lib/base-command.js'
import {postgresFlags, redisFlags} from '../../lib/flags.js'
import {runEventsWorker, type EventsWorkerResult} from '../../lib/workers/events-worker.js'
import {runWorkerCommand, summaryLine, workerFlags} from '../../lib/workers/worker-flags.js'

export default class WorkerEvents extends BaseCommand<typeof WorkerEvents> {
  static override summary = 'Consume domain events into PostgreSQL and the Redis projections'
  static override description =
    'Consumes the events topic in batches, decodes and validates each record (JSON or Avro envelope), writes every ' +
    'batch to pipeline.events with one idempotent statement, updates the Redis projections (latest state per entity, ' +
    'per-minute counts per type) and commits offsets only after PostgreSQL and any dead-letter write acknowledged. ' +
    'Poison records go to <topic>.dlq with their reason. A failing PostgreSQL pauses consumption with retries; a ' +
    'failing Redis only marks the projections stale, in pipeline.projection_backlog before the offsets are committed, ' +
    'and they are caught up from PostgreSQL when Redis answers (by this worker or, after a crash, the next one). ' +
    'SIGTERM/SIGINT finish the in-flight batch, commit, leave the group and exit 0 within --shutdown-timeout (what ' +
    'is not done by then is left, uncommitted, to the next worker). Serves /metrics, /healthz and /readyz on ' +
    '--metrics-host:--metrics-port (127.0.0.1:9464 by default); logs JSON on stderr. ' +
    'Runs with a small fixed V8 heap (--max-old-space-size=192 --max-semi-space-size=4) so memory stays flat, unless ' +
    'NODE_OPTIONS already sets heap sizes or KPIPE_WORKER_HEAP=default.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --group kpipe-events --concurrency 6 --metrics-port 9464',
    '<%= config.bin %> <%= command.id %> --from-beginning --stop-when-caught-up --json',
    'KPIPE_PG_URL=postgres://kpipe@db:5432/kpipe <%= config.bin %> <%= command.id %> --brokers kafka-1:9092',
  ]
  static override flags = {
    ...workerFlags('events'),
    ...postgresFlags,
    ...redisFlags,
    projections: Flags.boolean({description: 'Update the Redis projections (--no-projections: PostgreSQL only)', default: true, allowNo: true}),
  }

  async run(): Promise<EventsWorkerResult> {
    const resolved = this.kpipeConfig // configuration errors surface before any re-execution
    const result = await runWorkerCommand('events', resolved, this.flags, (options) => runEventsWorker({...options, projections: this.flags.projections}))
    this.note(
      summaryLine(result) +
        (result.projectionsStale ? ' Redis projections are stale: the next worker catches them up at start-up, or run `kpipe cache rebuild`.' : ''),
    )
    return result
  }
}
