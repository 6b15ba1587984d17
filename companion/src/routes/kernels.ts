/**
 * The kernel shim's endpoint: a kernelspec's process hands over its connection file and keeps this
 * request open for the life of the kernel. The reply is a stream of JSON lines: "started" (with the
 * remote kernel's id and websocket session), "subscribers" lines (how many Jupyter clients take its
 * output, each time that changes), then one "ended" line that says why (the shim prints it
 * and exits). When the shim goes away (Jupyter killed it), the remote kernel is shut down. When the
 * companion goes away instead (killed, restarted), the shim asks the next one to `attach` it to the
 * same remote kernel: its variables, and the output it printed meanwhile, are kept.
 */
import { Router } from 'express';
import { z } from 'zod';
import type { Gateway, KernelSession } from '../allocations/gateway';
import type { AllocationManager } from '../allocations/manager';
import { HttpError } from '../http/errors';

const shimRequestSchema = z.object({
  spec: z.string().regex(/^slurm-[A-Za-z0-9_.-]+$/),
  connectionFile: z.string().min(1),
  cwd: z.string().min(1),
  attach: z
    .object({
      remoteKernelId: z.string().regex(/^[A-Za-z0-9-]+$/),
      sessionId: z.string().min(1),
      subscribers: z.number().int().min(0).max(10_000).optional()
    })
    .optional()
});

export function kernelsRouter(
  gateway: Gateway,
  allocations: Pick<AllocationManager, 'whenConnected'>
): Router {
  const router = Router();
  router.post('/internal/kernels', async (req, res) => {
    const parsed = shimRequestSchema.safeParse(req.body);
    if (!parsed.success) {
      throw new HttpError(
        400,
        'invalid_request',
        'expected {spec, connectionFile, cwd, attach?}'
      );
    }
    const { spec, connectionFile, cwd, attach } = parsed.data;
    const meta = await gateway.kernelspecs.read(spec);
    if (!meta) {
      throw new HttpError(
        404,
        'not_found',
        `no kernelspec ${spec}: its allocation has ended`
      );
    }
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
    const line = (data: object) => res.write(`${JSON.stringify(data)}\n`);
    let session: KernelSession | undefined;
    let shimGone = false;
    res.on('close', () => {
      if (!res.writableFinished) {
        shimGone = true;
        void session?.shutdown('the kernel process exited');
      }
    });
    try {
      await allocations.whenConnected(meta.allocationId);
      session = await gateway.startKernel(
        meta.allocationId,
        meta.remoteName,
        spec,
        connectionFile,
        cwd,
        attach
      );
    } catch (err) {
      const what = attach ? 'reattach to' : 'start';
      res.end(
        `${JSON.stringify({ event: 'ended', ok: false, message: `cannot ${what} the remote kernel: ${(err as Error).message}` })}\n`
      );
      return;
    }
    if (shimGone) {
      await session.shutdown('the kernel process exited');
      return;
    }
    line({
      event: 'started',
      remoteKernelId: session.remoteKernelId,
      sessionId: session.sessionId,
      node: meta.node,
      jobId: meta.jobId
    });
    // The shim keeps the count for the next companion, should this one go away.
    session.watchSubscribers(count => {
      if (!res.writableEnded) {
        line({ event: 'subscribers', count });
      }
    });
    const end = await session.ended;
    if (end.reason === 'shutdown') {
      await session.shutdown(end.message);
      res.end(
        `${JSON.stringify({ event: 'ended', ok: true, message: end.message })}\n`
      );
    } else if (!shimGone) {
      await session.shutdown(end.message);
      res.end(
        `${JSON.stringify({ event: 'ended', ok: false, message: `${end.message} (job ${meta.jobId} on ${meta.node})` })}\n`
      );
    }
  });
  return router;
}
