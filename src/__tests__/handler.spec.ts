import { ServerConnection } from '@jupyterlab/services';
import { CompanionError, fetchCluster } from '../handler';

const cluster = {
  partitions: [
    {
      name: 'gpu',
      isDefault: false,
      state: 'UP',
      maxTimeMinutes: 480,
      defaultTimeMinutes: 60,
      nodes: ['node1'],
      totalCpus: 4,
      gpus: {
        total: 2,
        free: 1,
        types: [{ type: 'tesla', total: 2, free: 1, maxPerNode: 2 }]
      }
    }
  ],
  nodes: [],
  accounts: [],
  qos: [],
  fetchedAt: '2026-11-23T07:00:00.000Z'
};

/** Settings whose fetch answers one canned reply and records the URL asked for. */
function settingsReplying(
  status: number,
  body: unknown,
  urls: string[] = []
): ServerConnection.ISettings {
  return ServerConnection.makeSettings({
    baseUrl: 'http://localhost:8888/lab-base/',
    fetch: async (input: RequestInfo | URL) => {
      urls.push(String(input instanceof Request ? input.url : input));
      return new Response(
        typeof body === 'string' ? body : JSON.stringify(body),
        {
          status,
          headers: { 'Content-Type': 'application/json' }
        }
      );
    }
  });
}

describe('fetchCluster', () => {
  it('asks the companion under the server base URL and returns the validated cluster', async () => {
    const urls: string[] = [];
    const result = await fetchCluster(settingsReplying(200, cluster, urls));
    expect(result.partitions[0].name).toBe('gpu');
    expect(urls[0]).toMatch(
      /^http:\/\/localhost:8888\/lab-base\/slurm-kernels\/api\/cluster/
    );
  });

  it('bypasses the companion cache on refresh', async () => {
    const urls: string[] = [];
    await fetchCluster(settingsReplying(200, cluster, urls), true);
    expect(urls[0]).toContain('api/cluster?refresh=1');
  });

  it("turns an error reply into a CompanionError with the companion's sentence", async () => {
    const reply = {
      error: 'slurm_error',
      message: 'sinfo failed: Unable to contact slurm controller'
    };
    const failing = fetchCluster(settingsReplying(502, reply));
    await expect(failing).rejects.toBeInstanceOf(CompanionError);
    await expect(
      fetchCluster(settingsReplying(502, reply))
    ).rejects.toMatchObject({
      status: 502,
      code: 'slurm_error',
      message: 'sinfo failed: Unable to contact slurm controller'
    });
  });

  it('rejects a reply that does not match the API', async () => {
    await expect(
      fetchCluster(settingsReplying(200, { partitions: 'gpu' }))
    ).rejects.toMatchObject({
      code: 'bad_reply'
    });
  });

  it('explains a failure that is not a companion error (e.g. the proxy is missing)', async () => {
    await expect(
      fetchCluster(settingsReplying(404, '<html>Not Found</html>'))
    ).rejects.toMatchObject({
      code: 'http_error',
      status: 404
    });
  });
});
