/**
 * The CLI on a lab with several clusters: an allocation named without --cluster is looked for on
 * each, and a job id two clusters share is refused with both named.
 */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CompanionClient } from '../../../src/cli/client';
import { allocationsOfEach, clientFor } from '../../../src/cli/clusters';

/** A companion that knows only these routes, each answered with its JSON (else 404). */
function companionAt(
  socket: string,
  routes: Record<string, unknown>
): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const body = routes[req.url ?? ''];
    res.writeHead(body === undefined ? 404 : 200, {
      'Content-Type': 'application/json'
    });
    res.end(JSON.stringify(body ?? { message: `no ${req.url}` }));
  });
  return new Promise(resolve => server.listen(socket, () => resolve(server)));
}

const summary = (name: string, isDefault = false) => ({
  name,
  alias: name,
  local: false,
  default: isDefault,
  login: 'up'
});

let dir: string;
let server: http.Server | undefined;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'cli-clusters-'));
});

afterEach(async () => {
  await new Promise(resolve => (server ? server.close(resolve) : resolve(0)));
  server = undefined;
  rmSync(dir, { recursive: true, force: true });
});

it('finds an allocation on the one cluster that has it, and refuses a job id two clusters share', async () => {
  const socket = path.join(dir, 'companion.sock');
  server = await companionAt(socket, {
    '/api/clusters': { clusters: [summary('hpc', true), summary('lab')] },
    '/clusters/hpc/api/allocations/17': { id: 'a1', jobId: '17' },
    '/clusters/lab/api/allocations/17': { id: 'b1', jobId: '17' },
    '/clusters/lab/api/allocations/b2': { id: 'b2', jobId: '18' }
  });
  const client = new CompanionClient(socket);
  expect((await clientFor(client, 'b2')).cluster).toBe('lab');
  await expect(clientFor(client, '17')).rejects.toThrow(
    '17 is on hpc and lab: say which with --cluster NAME'
  );
  await expect(clientFor(client, '99')).rejects.toThrow(
    'no cluster of this lab has an allocation or job 99'
  );
  // Named, it is asked of that cluster alone.
  expect((await clientFor(client.forCluster('hpc'), '17')).cluster).toBe('hpc');
});

it('lists each cluster with its allocations, and a companion without clusters as one', async () => {
  const socket = path.join(dir, 'companion.sock');
  server = await companionAt(socket, {
    '/api/clusters': { clusters: [summary('hpc', true), summary('lab')] },
    '/clusters/hpc/api/allocations': { allocations: [{ id: 'a1' }] },
    '/clusters/lab/api/allocations': { allocations: [] }
  });
  const groups = await allocationsOfEach(new CompanionClient(socket));
  expect(groups.map(g => [g.cluster, g.allocations.length])).toEqual([
    ['hpc', 1],
    ['lab', 0]
  ]);
  server.closeAllConnections();
  await new Promise(resolve => server?.close(resolve));
  // An older companion (no /api/clusters): its one list, at the root.
  const older = path.join(dir, 'older.sock');
  server = await companionAt(older, {
    '/api/allocations': { allocations: [{ id: 'a1' }, { id: 'a2' }] }
  });
  const one = await allocationsOfEach(new CompanionClient(older));
  expect(one.map(g => [g.cluster, g.allocations.length])).toEqual([[null, 2]]);
});
