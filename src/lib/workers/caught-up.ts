/** Pure: is a consumer group caught up on the partitions assigned to this worker? */
export interface PartitionPosition {
  partition: number
  /** The group's committed offset; -1 when nothing was committed yet. */
  committed: bigint
  /** Log start offset (the earliest offset still on the broker). */
  start: bigint
  /** Log end offset (high watermark): the offset the next record will get. */
  end: bigint
}

export function partitionLag(position: PartitionPosition): bigint {
  // Nothing committed: everything still on the broker is lag.
  const from = position.committed < 0n ? position.start : position.committed < position.start ? position.start : position.committed
  const lag = position.end - from
  return lag > 0n ? lag : 0n
}

/** True when every assigned partition has lag 0 (an assignment with no partitions is not). */
export function isCaughtUp(positions: PartitionPosition[]): boolean {
  return positions.length > 0 && positions.every((position) => partitionLag(position) === 0n)
}
