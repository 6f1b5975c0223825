/** Status colours of the dashboard: green is fine, yellow needs a look, red needs someone. */
import type {GroupStatus, PartitionStatus} from '../../lib/lag/lag-model.js'

const COLORS: Record<GroupStatus | PartitionStatus, string> = {
  OK: 'green',
  WARN: 'yellow',
  ERR: 'red',
  NOTFOUND: 'magenta',
  STOP: 'red',
  STALL: 'red',
  REWIND: 'red',
}

export function statusColor(status: GroupStatus | PartitionStatus): string {
  return COLORS[status]
}
