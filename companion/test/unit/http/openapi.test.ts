/**
 * openapi.json describes exactly the routes the companion serves, and its request schema matches the
 * zod schema every request is validated with.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { unusedTransports } from '../fixtures';
import pino from 'pino';
import { allocationRequestSchema } from '../../../../src/api/allocation';
import { Gateway } from '../../../src/allocations/gateway';
import { AllocationManager } from '../../../src/allocations/manager';
import { createApp } from '../../../src/http/app';
import { ClusterHub } from '../../../src/clusters/hub';
import { ClusterRegistry } from '../../../src/clusters/registry';
import { KernelspecWriter } from '../../../src/kernelspecs/writer';
import { CachedCluster } from '../../../src/routes/cluster';
import { FakeRunner } from '../slurm/fake-runner';

const doc = JSON.parse(
  readFileSync(path.join(__dirname, '../../../openapi.json'), 'utf8')
);

/** Every "METHOD /path" express will route, with :param written as {param}. */
function servedRoutes(): string[] {
  const log = pino({ level: 'silent' });
  const runner = new FakeRunner(() => ({}));
  const cluster = new CachedCluster(runner);
  const gateway = new Gateway({
    transports: unusedTransports(),
    kernelspecs: new KernelspecWriter({ shimArgv: [] }),
    log
  });
  const allocations = new AllocationManager({
    runner,
    cluster,
    stateDir: '/nonexistent',
    gateway,
    log
  });
  const app = createApp({ cluster, allocations, gateway, log, version: 't' });
  // The hub in front of the clusters: its own routes, the rest is a cluster's app.
  const hub = new ClusterHub({
    version: 't',
    log,
    registry: new ClusterRegistry('/nonexistent/clusters.json'),
    open: () => {
      throw new Error('not opened here');
    },
    checkAlias: async () => undefined,
    clusterOfKernelspec: async () => undefined,
    forgetKernelspecs: async () => undefined
  }).app();
  const routes = new Set<string>();
  const walk = (stack: any[]) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods)) {
          routes.add(
            `${method.toUpperCase()} ${String(layer.route.path).replace(/:(\w+)/g, '{$1}')}`
          );
        }
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack);
      }
    }
  };
  walk((app as any).router.stack);
  walk((hub as any).router.stack);
  return [...routes].sort();
}

describe('openapi.json', () => {
  it('lists exactly the routes the companion serves', () => {
    const documented = Object.entries(
      doc.paths as Record<string, Record<string, unknown>>
    )
      .flatMap(([p, ops]) =>
        Object.keys(ops)
          .filter(k => k !== 'parameters')
          .map(m => `${m.toUpperCase()} ${p}`)
      )
      .sort();
    expect(documented).toEqual(servedRoutes());
  });

  it('names the same request fields as the zod schema', () => {
    const documented = Object.keys(
      doc.components.schemas.AllocationRequest.properties
    ).sort();
    expect(documented).toEqual(
      Object.keys(allocationRequestSchema.shape).sort()
    );
    expect(doc.components.schemas.AllocationRequest.required.sort()).toEqual([
      'partition',
      'time'
    ]);
  });
});
