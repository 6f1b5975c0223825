/**
 * The secure stack (`./scripts/stack up --secure`): its SASL_SSL variables, its least-privilege
 * SCRAM principals (scripts/stack.d/kafka-acls.txt), its mutual-TLS listener, and ACLs a test
 * grants for its own topics and groups (through the PLAINTEXT listener, a super user).
 */
import {execFile} from 'node:child_process'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {promisify} from 'node:util'
import {AclOperationTypes, AclPermissionTypes, AclResourceTypes, Kafka, logLevel, ResourcePatternTypes, type AclEntry} from 'kafkajs'

import {repoRoot} from './cli.js'

export const ACL_FILE = path.join(repoRoot, 'scripts', 'stack.d', 'kafka-acls.txt')

function parseExports(text: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const match = /^export ([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim())
    if (match) env[match[1]!] = match[2]!.replace(/^'(.*)'$/, '$1')
  }
  return env
}

async function stackEnv(args: string[]): Promise<Record<string, string>> {
  const {stdout} = await promisify(execFile)(path.join(repoRoot, 'scripts', 'stack'), ['env', ...args], {encoding: 'utf8'})
  return parseExports(stdout)
}

/** The KPIPE_* variables `./scripts/stack env --secure` exports (the admin SCRAM user). */
export async function secureEnv(): Promise<Record<string, string>> {
  return stackEnv(['--secure'])
}

/** secureEnv() as one of the stack's least-privilege SCRAM users (e.g. kpipe-events): `stack env --user`. */
export async function principalEnv(user: string): Promise<Record<string, string>> {
  return stackEnv(['--user', user])
}

/** The variables of the mutual-TLS listener (.stack/tls/mtls.env, written by up --secure). */
export async function mtlsEnv(): Promise<Record<string, string>> {
  const {KPIPE_KAFKA_CA_FILE: ca} = await secureEnv()
  return parseExports(readFileSync(path.join(path.dirname(ca!), 'mtls.env'), 'utf8'))
}

/** PostgreSQL over verified TLS and Redis with a password over TLS (.stack/tls/services.env). */
export async function secureServicesEnv(): Promise<Record<string, string>> {
  const {KPIPE_KAFKA_CA_FILE: ca} = await secureEnv()
  return parseExports(readFileSync(path.join(path.dirname(ca!), 'services.env'), 'utf8'))
}

export interface AclLine {
  principal: string
  resourceType: 'topic' | 'group' | 'transactional-id' | 'cluster'
  pattern: 'literal' | 'prefixed'
  name: string
  operations: string[]
}

/** The ACL lines of kafka-acls.txt for one principal (e.g. User:kpipe-events). */
export function documentedAcls(principal: string): AclLine[] {
  return readFileSync(ACL_FILE, 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim().split(/\s+/))
    .filter((f) => f[0] === 'allow' && f[1] === principal)
    .map((f) => ({principal: f[1]!, resourceType: f[2] as AclLine['resourceType'], pattern: f[3] as AclLine['pattern'], name: f[4]!, operations: f[5]!.split(',')}))
}

const RESOURCE = {topic: AclResourceTypes.TOPIC, group: AclResourceTypes.GROUP, 'transactional-id': AclResourceTypes.TRANSACTIONAL_ID, cluster: AclResourceTypes.CLUSTER}
const OPERATION: Record<string, AclOperationTypes> = {
  Read: AclOperationTypes.READ,
  Write: AclOperationTypes.WRITE,
  Create: AclOperationTypes.CREATE,
  Delete: AclOperationTypes.DELETE,
  Alter: AclOperationTypes.ALTER,
  Describe: AclOperationTypes.DESCRIBE,
  DescribeConfigs: AclOperationTypes.DESCRIBE_CONFIGS,
  AlterConfigs: AclOperationTypes.ALTER_CONFIGS,
  IdempotentWrite: AclOperationTypes.IDEMPOTENT_WRITE,
}

function entries(lines: AclLine[]): AclEntry[] {
  return lines.flatMap((line) =>
    line.operations.map((operation) => ({
      resourceType: RESOURCE[line.resourceType],
      resourceName: line.name,
      resourcePatternType: line.pattern === 'prefixed' ? ResourcePatternTypes.PREFIXED : ResourcePatternTypes.LITERAL,
      principal: line.principal,
      host: '*',
      operation: OPERATION[operation]!,
      permissionType: AclPermissionTypes.ALLOW,
    })),
  )
}

function plaintextAdmin() {
  const brokers = (process.env.KPIPE_BROKERS ?? 'localhost:9092').split(',')
  return new Kafka({clientId: 'kpipe-tests-acls', brokers, logLevel: logLevel.NOTHING}).admin()
}

/** Grants the ACLs; returns a function that removes exactly those. */
export async function grant(lines: AclLine[]): Promise<() => Promise<void>> {
  const acl = entries(lines)
  const admin = plaintextAdmin()
  await admin.connect()
  try {
    await admin.createAcls({acl})
  } finally {
    await admin.disconnect()
  }
  return async () => {
    const remover = plaintextAdmin()
    await remover.connect()
    try {
      await remover.deleteAcls({filters: acl})
    } finally {
      await remover.disconnect()
    }
  }
}
