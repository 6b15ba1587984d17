/**
 * The CLI where one lab drives several clusters: `clusters` lists, adds and takes them out; the
 * allocation commands take `--cluster NAME`, and without it `list` shows every cluster's and an
 * allocation named by id is looked for on each (Slurm job ids repeat across clusters).
 */
import { parseArgs } from 'node:util';
import type { Allocation } from '../../../src/api/allocation';
import type { ClusterSummary } from '../../../src/api/clusters';
import { CliError, CompanionClient } from './client';

/** The lab's clusters; none listed by a companion older than several clusters (no such route). */
export async function clustersOf(
  client: CompanionClient
): Promise<ClusterSummary[]> {
  const reply = await client.companion.request('GET', '/api/clusters');
  if (reply.status === 404) {
    return [];
  }
  if (reply.status >= 400) {
    throw new CliError(reply.body?.message ?? `HTTP ${reply.status}`);
  }
  return reply.body.clusters as ClusterSummary[];
}

/**
 * The client for the cluster holding an allocation (its id, or a job id) when no --cluster was
 * given: the default cluster's where the lab has one; else the one cluster that knows it.
 */
export async function clientFor(
  client: CompanionClient,
  ref: string
): Promise<CompanionClient> {
  if (client.cluster !== null) {
    return client;
  }
  const clusters = await clustersOf(client);
  if (clusters.length < 2) {
    return client;
  }
  const holding: string[] = [];
  const unreachable: string[] = [];
  await Promise.all(
    clusters.map(async c => {
      const reply = await client
        .forCluster(c.name)
        .request('GET', `/api/allocations/${encodeURIComponent(ref)}`);
      if (reply.status === 200) {
        holding.push(c.name);
      } else if (reply.status !== 404) {
        unreachable.push(`${c.name} (${reply.body?.message ?? reply.status})`);
      }
    })
  );
  if (holding.length === 1) {
    return client.forCluster(holding[0]);
  }
  if (holding.length > 1) {
    throw new CliError(
      `${ref} is on ${holding.sort().join(' and ')}: say which with --cluster NAME`
    );
  }
  throw new CliError(
    `no cluster of this lab has an allocation or job ${ref}${unreachable.length > 0 ? `; not asked: ${unreachable.join(', ')}` : ''} (see: slurm-kernels list)`
  );
}

/** Every cluster's allocations, each with its cluster's name (one cluster: just its own). */
export async function allocationsOfEach(
  client: CompanionClient
): Promise<Array<{ cluster: string | null; allocations: Allocation[] }>> {
  const clusters =
    client.cluster === null ? await clustersOf(client) : undefined;
  if (!clusters || clusters.length < 2) {
    const { allocations } = await client.ok('GET', '/api/allocations');
    return [{ cluster: client.cluster, allocations }];
  }
  return Promise.all(
    clusters.map(async c => {
      const { allocations } = await client
        .forCluster(c.name)
        .ok('GET', '/api/allocations')
        .catch(err => {
          // One cluster out of reach does not hide the others' allocations.
          process.stderr.write(`${c.name}: ${(err as Error).message}\n`);
          return { allocations: [] };
        });
      return { cluster: c.name, allocations };
    })
  );
}

/** `clusters [--json]`, `clusters add ALIAS [--name NAME]`, `clusters remove NAME [--force]`. */
export async function clusters(
  client: CompanionClient,
  args: string[]
): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'add') {
    return addCluster(client.companion, rest);
  }
  if (sub === 'remove') {
    return removeCluster(client.companion, rest);
  }
  if (sub !== undefined && sub !== '--json') {
    throw new CliError(
      `clusters: add, remove or nothing (the list), not "${sub}"`
    );
  }
  const { values } = parseArgs({
    args,
    options: { json: { type: 'boolean', default: false } }
  });
  const listed = await clustersOf(client);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(listed, null, 1)}\n`);
    return;
  }
  for (const c of listed) {
    process.stdout.write(
      `${c.name}\t${c.alias ?? '-'}\t${c.login}${c.default ? '\tdefault' : ''}\n`
    );
  }
}

async function addCluster(
  client: CompanionClient,
  args: string[]
): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { name: { type: 'string' } }
  });
  const [alias] = positionals;
  if (!alias) {
    throw new CliError(
      'clusters add needs an ssh config alias or user@host (e.g. clusters add hpc)'
    );
  }
  const added: ClusterSummary = await client.ok('POST', '/api/clusters', {
    alias,
    ...(values.name === undefined ? {} : { name: values.name })
  });
  // The login's questions (a host key, a code) are the lab's dialogs: the CLI cannot answer them.
  process.stderr.write(
    `added ${added.name} (${alias}); logging in: a host key or code it asks for is asked in the lab\n`
  );
}

async function removeCluster(
  client: CompanionClient,
  args: string[]
): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { force: { type: 'boolean', default: false } }
  });
  const [name] = positionals;
  if (!name) {
    throw new CliError('clusters remove needs a cluster name (see: clusters)');
  }
  await client.ok(
    'DELETE',
    `/api/clusters/${encodeURIComponent(name)}${values.force ? '?force=1' : ''}`
  );
  process.stderr.write(`removed ${name} from this lab\n`);
}
