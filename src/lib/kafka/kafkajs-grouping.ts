/** kafkajs' groupMessagesPerPartition, linear (kafkajs-patches.ts says why). */
interface Grouping {
  topic: string
  partitionMetadata: unknown[]
  messages: unknown[]
  partitioner: (args: {topic: string; partitionMetadata: unknown[]; message: unknown}) => number
}

/** The messages of each partition, in send order. */
export function groupMessagesPerPartition({topic, partitionMetadata, messages, partitioner}: Grouping): Record<number, unknown[]> {
  if (partitionMetadata.length === 0) return {}
  const result: Record<number, unknown[]> = {}
  for (const message of messages) {
    const partition = partitioner({topic, partitionMetadata, message})
    ;(result[partition] ??= []).push(message)
  }
  return result
}

