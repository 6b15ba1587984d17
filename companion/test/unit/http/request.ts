import http from 'node:http';

/**
 * Sends one HTTP request over a unix socket and resolves the status and parsed JSON body.
 * `headers` add to the JSON content type (a Jupyter Server's token).
 */
export function requestJson(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {}
): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath,
        method,
        path,
        headers: { 'content-type': 'application/json', ...headers }
      },
      res => {
        const chunks: Buffer[] = [];
        res.on('data', c => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            body: text ? JSON.parse(text) : undefined
          });
        });
      }
    );
    req.on('error', reject);
    req.end(
      body === undefined
        ? undefined
        : typeof body === 'string'
          ? body
          : JSON.stringify(body)
    );
  });
}
