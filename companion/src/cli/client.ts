/**
 * The CLI's way to the companion: HTTP over its unix socket, starting it on demand.
 */
import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { MAIN_SCRIPT } from '../paths';
import { defaultStateDir, ensurePrivateDir } from '../state/files';

export class CliError extends Error {}

export interface IReply {
  status: number;
  body: any;
}

export class CompanionClient {
  constructor(private readonly _socket: string) {}

  async request(
    method: string,
    urlPath: string,
    body?: unknown
  ): Promise<IReply> {
    try {
      return await this._send(method, urlPath, body);
    } catch (err) {
      if (!isNotListening(err)) {
        throw err;
      }
      await this._startCompanion();
      return this._send(method, urlPath, body);
    }
  }

  /** Like request(), but a 4xx/5xx becomes a CliError with the companion's message. */
  async ok(method: string, urlPath: string, body?: unknown): Promise<any> {
    const reply = await this.request(method, urlPath, body);
    if (reply.status >= 400) {
      const field = reply.body?.field ? ` (${reply.body.field})` : '';
      throw new CliError(
        `${reply.body?.message ?? `HTTP ${reply.status}`}${field}`
      );
    }
    return reply.body;
  }

  private _send(
    method: string,
    urlPath: string,
    body?: unknown
  ): Promise<IReply> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this._socket,
          method,
          path: urlPath,
          headers: payload
            ? {
                'Content-Type': 'application/json',
                'Content-Length': Buffer.byteLength(payload)
              }
            : {}
        },
        res => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              // not JSON: keep the text
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        }
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** Starts `serve` in the background, logging to the state dir, and waits for its socket. */
  private async _startCompanion(): Promise<void> {
    const stateDir = await ensurePrivateDir(defaultStateDir());
    await ensurePrivateDir(path.dirname(this._socket));
    const log = openSync(path.join(stateDir, 'companion.log'), 'a', 0o600);
    const child = spawn(
      process.execPath,
      [MAIN_SCRIPT, 'serve', '--socket', this._socket],
      {
        detached: true,
        stdio: ['ignore', log, log]
      }
    );
    child.unref();
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      try {
        await this._send('GET', '/api');
        return;
      } catch (err) {
        if (!isNotListening(err) || child.exitCode !== null) {
          break;
        }
        await new Promise(resolve => setTimeout(resolve, 100));
      }
    }
    throw new CliError(
      `could not start the companion; see ${path.join(stateDir, 'companion.log')}`
    );
  }
}

function isNotListening(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ECONNREFUSED';
}
