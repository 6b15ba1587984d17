/**
 * The CLI's way to the companion: HTTP over its unix socket, starting it on demand.
 */
import http from 'node:http';
import { ensureCompanion } from '../launch';
import { MAIN_SCRIPT } from '../paths';

export class CliError extends Error {}

export interface IReply {
  status: number;
  body: any;
}

export class CompanionClient {
  /** `cluster`: one cluster of the lab, by name; null for the companion's default one. */
  constructor(
    private readonly _socket: string,
    readonly cluster: string | null = null
  ) {}

  /** The same companion, asked about one cluster of its lab by name. */
  forCluster(name: string): CompanionClient {
    return new CompanionClient(this._socket, name);
  }

  /** The companion itself (its cluster list), whatever cluster this client asks about. */
  get companion(): CompanionClient {
    return this.cluster === null ? this : new CompanionClient(this._socket);
  }

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
          path:
            this.cluster === null
              ? urlPath
              : `/clusters/${encodeURIComponent(this.cluster)}${urlPath}`,
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

  private async _startCompanion(): Promise<void> {
    try {
      await ensureCompanion(this._socket, MAIN_SCRIPT);
    } catch (err) {
      throw new CliError((err as Error).message);
    }
  }
}

function isNotListening(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ECONNREFUSED';
}
