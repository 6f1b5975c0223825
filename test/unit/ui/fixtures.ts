/** Made-up views for the dashboard's tests. */
import type {GroupView, LagView, PartitionView} from '../../../src/lib/lag/lag-tracker.js'

export function partitionView(partition: number, lag: bigint | null, overrides: Partial<PartitionView> = {}): PartitionView {
  return {
    topic: 'orders',
    partition,
    committedOffset: lag === null ? null : 100n - lag,
    logStartOffset: 0n,
    logEndOffset: 100n,
    lag,
    timeLagMs: lag === null ? null : Number(lag) * 10,
    status: 'OK',
    dataLost: false,
    lostRecords: 0n,
    productionPerSec: null,
    consumptionPerSec: null,
    catchUp: null,
    owner: null,
    lagHistory: lag === null ? [null] : [Number(lag)],
    ...overrides,
  }
}

export function groupView(group: string, partitions: PartitionView[], overrides: Partial<GroupView> = {}): GroupView {
  return {
    group,
    state: 'Stable',
    status: 'OK',
    exists: true,
    totalLag: partitions.reduce((a, p) => a + (p.lag ?? 0n), 0n),
    maxTimeLagMs: null,
    members: [],
    partitions,
    productionPerSec: null,
    consumptionPerSec: null,
    catchUp: null,
    unownedPartitions: 0,
    lostRecords: 0n,
    lagHistory: [],
    unavailablePartitions: [],
    ...overrides,
  }
}

export const sampleView = (groups: GroupView[], at = 0): LagView => ({sampledAtMs: at, groups, missingTopics: [], unavailablePartitions: []})
