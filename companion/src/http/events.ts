/**
 * A server-sent event stream on a reply: headers that keep proxies (jupyter-server-proxy) from
 * buffering it, a comment every 25 s so idle connections stay open, and a sender of named events.
 */
import type { Response } from 'express';

export interface IEventStream {
  send(event: string, data: unknown): void;
  /** Runs when the reply closes (the browser went, or the stream was ended). */
  onClose(cleanup: () => void): void;
  /** Ends the stream; an EventSource reconnects after `retryMs`. */
  end(): void;
}

export function openEventStream(res: Response, retryMs?: number): IEventStream {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    // jupyter-server-proxy and other proxies must pass events through as they come.
    'X-Accel-Buffering': 'no'
  });
  if (retryMs !== undefined) {
    res.write(`retry: ${retryMs}\n\n`);
  }
  const keepalive = setInterval(() => res.write(': keepalive\n\n'), 25_000);
  res.on('close', () => clearInterval(keepalive));
  return {
    send: (event, data) =>
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`),
    onClose: cleanup => res.on('close', cleanup),
    end: () => res.end()
  };
}
