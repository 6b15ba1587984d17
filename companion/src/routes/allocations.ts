/**
 * Allocations API: list, request, read, cancel, keep, job log, the cancel policy, and server-sent
 * events of every change (and of the questions a login to the cluster waits on).
 */
import { Router } from 'express';
import type { AllocationManager } from '../allocations/manager';
import { openEventStream } from '../http/events';
import { followLogins, type LoginQuestions } from '../login/questions';

export function allocationsRouter(
  manager: AllocationManager,
  logins?: LoginQuestions
): Router {
  const router = Router();
  router.get('/api/allocations', async (_req, res) => {
    await manager.refresh();
    res.json({ allocations: manager.list() });
  });
  router.post('/api/allocations', async (req, res) => {
    const allocation = await manager.request(req.body ?? {});
    // 202: sbatch gave no clear answer; the job is looked for by its tag (allocation.problem).
    res.status(allocation.jobId ? 201 : 202).json(allocation);
  });
  router.post('/api/job-script', async (req, res) => {
    res.json({ script: await manager.preview(req.body ?? {}) });
  });
  // Each names an allocation, maybe one a companion on another login node just submitted.
  router.get('/api/allocations/:id', async (req, res) => {
    await manager.refresh();
    res.json(manager.get(req.params.id));
  });
  router.delete('/api/allocations/:id', async (req, res) => {
    await manager.refresh();
    res.json(await manager.cancel(req.params.id));
  });
  // "Keep": puts off the cancel the policy scheduled (the allocation's limits count from now).
  router.post('/api/allocations/:id/keep', async (req, res) => {
    await manager.refresh();
    res.json(await manager.keep(req.params.id));
  });
  router.get('/api/policy', (_req, res) => {
    res.json(manager.cancelPolicy);
  });
  // The lab sends the user's settings; the reply is the policy in force (the site's may be stricter).
  router.put('/api/policy', async (req, res) => {
    res.json(await manager.setCancelPolicy(req.body ?? {}));
  });
  router.get('/api/allocations/:id/log', async (req, res) => {
    await manager.refresh();
    res.json({ log: await manager.log(req.params.id) });
  });
  router.get('/api/events', (_req, res) => {
    const events = openEventStream(res);
    const onChanged = (allocation: unknown) =>
      events.send('allocation', allocation);
    const onProgress = (progress: unknown) => events.send('progress', progress);
    manager.on('changed', onChanged);
    manager.on('progress', onProgress);
    const stopLogins = logins ? followLogins(logins, events) : () => undefined;
    events.send('hello', {
      allocations: manager.list(),
      logins: logins?.pending ?? []
    });
    events.onClose(() => {
      manager.off('changed', onChanged);
      manager.off('progress', onProgress);
      stopLogins();
    });
  });
  return router;
}
