import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { allocationRequestSchema } from '../../../../src/api/allocation';
import {
  DEFAULT_JOB_POLICY,
  buildJobScript,
  DEAD_MAN_EXIT,
  shellQuote
} from '../../../src/gateway/jobScript';

const files = {
  dir: '/home/alice/.local/state/slurm-kernels/allocations/x',
  tokenFile: "/home/alice/it's/token",
  rendezvousFile:
    '/home/alice/.local/state/slurm-kernels/allocations/x/rendezvous.json',
  gatewayConfig:
    '/home/alice/.local/state/slurm-kernels/allocations/x/gateway_config.py',
  aliveFile:
    '/home/alice/.local/state/slurm-kernels/allocations/x/companion-alive'
};

function script(environment: object): string {
  const request = allocationRequestSchema.parse({
    partition: 'gpu',
    gres: 'gpu:1',
    time: '1:00:00',
    environment
  });
  return buildJobScript(request, files);
}

describe('the job script', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'sk-script-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is valid bash (bash -n)', () => {
    const file = path.join(dir, 'job.sh');
    writeFileSync(
      file,
      script({
        modules: ['cuda/12.4'],
        venv: '/opt/env',
        init: ['export OMP_NUM_THREADS=4']
      })
    );
    expect(() => execFileSync('/bin/bash', ['-n', file])).not.toThrow();
  });

  it('sets the environment up in order: modules, conda, venv, then the user init lines', () => {
    const text = script({
      modules: ['cuda/12.4', 'gcc'],
      conda: 'torch',
      venv: '/opt/env/',
      init: ['echo hi']
    });
    const order = [
      "module load 'cuda/12.4' 'gcc'",
      "conda activate 'torch'",
      "source '/opt/env/bin/activate'",
      'echo hi'
    ].map(line => text.indexOf(line));
    expect(order.every(i => i > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  it('never puts the token in argv and keeps the gateway on loopback with port retries off', () => {
    const text = script({});
    expect(text).toContain('KG_AUTH_TOKEN="$sk_token" KG_IP=127.0.0.1');
    expect(text).toContain('KG_PORT_RETRIES=0');
    expect(text).toContain('KG_LIST_KERNELS=True');
    expect(text).toContain("sk_token_file='/home/alice/it'\\''s/token'");
    expect(text).not.toMatch(
      /--KernelGatewayApp\.auth_token|--IdentityProvider\.token/
    );
  });

  it('runs from a login shell, submitted apart from the lab environment, with set -u only after the environment', () => {
    const text = script({ conda: 'torch' });
    expect(text.split('\n')[0]).toBe('#!/bin/bash -l');
    expect(text).toContain('export SLURM_EXPORT_ENV=ALL');
    expect(text.indexOf('set -u')).toBeGreaterThan(
      text.indexOf("conda activate 'torch'")
    );
    expect(text).not.toMatch(/set -[a-z]*u[a-z]* .*\n[^]*conda activate/);
  });

  it('quotes values so that the shell reads them back verbatim', () => {
    for (const value of ["it's", '$(id)', '`id`', 'a b; c', '"x"\\']) {
      const out = execFileSync('/bin/bash', [
        '-c',
        `printf %s ${shellQuote(value)}`
      ]).toString();
      expect(out).toBe(value);
    }
  });
});

/**
 * The launcher run for real by bash, with a stand-in `jupyter` that records its environment and
 * listens on the port it was given, as the gateway would.
 */
describe('the job script, run', () => {
  let dir: string;
  let allocation: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sk-run-'));
    allocation = path.join(dir, 'allocation');
    mkdirSync(path.join(dir, 'bin'));
    mkdirSync(allocation);
    // It answers GET /api/kernels (with the token) from the file $SK_TEST_KERNELS names.
    const fake = [
      '#!/bin/bash',
      'env >"$SK_TEST_ENV_OUT"',
      "exec python3 - <<'PY'",
      'import http.server, os',
      'class Gateway(http.server.BaseHTTPRequestHandler):',
      '    def do_GET(self):',
      '        ok = self.headers.get("Authorization") == "token " + os.environ["KG_AUTH_TOKEN"]',
      '        body = open(os.environ["SK_TEST_KERNELS"], "rb").read() if ok else b"{}"',
      '        self.send_response(200 if ok else 403)',
      '        self.end_headers()',
      '        self.wfile.write(body)',
      'http.server.HTTPServer(("127.0.0.1", int(os.environ["KG_PORT"])), Gateway).serve_forever()',
      'PY'
    ].join('\n');
    for (const name of ['jupyter', 'jupyter-kernelgateway']) {
      writeFileSync(path.join(dir, 'bin', name), fake);
      chmodSync(path.join(dir, 'bin', name), 0o755);
    }
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const jobFiles = () => ({
    dir: allocation,
    tokenFile: path.join(allocation, 'token'),
    rendezvousFile: path.join(allocation, 'rendezvous.json'),
    gatewayConfig: path.join(allocation, 'gateway_config.py'),
    aliveFile: path.join(allocation, 'companion-alive')
  });
  const env = () => ({
    PATH: `${path.join(dir, 'bin')}:/usr/bin:/bin`,
    HOME: dir,
    TMPDIR: dir,
    SLURM_JOB_ID: '77',
    JUPYTER_CONFIG_DIR: '/home/someone/.jupyter-own',
    SK_TEST_ENV_OUT: path.join(dir, 'gateway.env'),
    SK_TEST_KERNELS: path.join(dir, 'kernels.json')
  });
  const writeScript = (deadManSeconds = 1800) => {
    const file = path.join(dir, 'job.sh');
    const request = allocationRequestSchema.parse({
      partition: 'cpu',
      time: '10'
    });
    writeFileSync(
      file,
      buildJobScript(request, jobFiles(), {
        ...DEFAULT_JOB_POLICY,
        deadManSeconds
      })
    );
    return file;
  };

  it.each([
    ['missing', undefined],
    ['empty', '']
  ])('refuses to start a gateway when the token file is %s', (_what, token) => {
    if (token !== undefined) {
      writeFileSync(jobFiles().tokenFile, token);
    }
    const run = spawnSync('/bin/bash', [writeScript()], {
      env: env(),
      encoding: 'utf8',
      timeout: 20_000
    });
    expect(run.status).toBe(25);
    expect(run.stderr).toContain("cannot read the gateway's token from");
    expect(existsSync(env().SK_TEST_ENV_OUT)).toBe(false);
    expect(existsSync(jobFiles().rendezvousFile)).toBe(false);
  });

  it('gives the gateway its token and no Jupyter config of the user, and writes the rendezvous', async () => {
    writeFileSync(jobFiles().tokenFile, 'sekrit-token\n', { mode: 0o600 });
    const job = spawn('/bin/bash', [writeScript()], {
      env: env(),
      stdio: 'ignore'
    });
    try {
      for (let i = 0; i < 200 && !existsSync(jobFiles().rendezvousFile); i++) {
        await new Promise(resolve => setTimeout(resolve, 50));
      }
      const rendezvous = JSON.parse(
        readFileSync(jobFiles().rendezvousFile, 'utf8')
      );
      expect(rendezvous).toMatchObject({
        host: os.hostname(),
        kind: 'kernelgateway',
        port: expect.any(Number)
      });
      const seen = readFileSync(env().SK_TEST_ENV_OUT, 'utf8').split('\n');
      expect(seen).toEqual(
        expect.arrayContaining([
          'KG_AUTH_TOKEN=sekrit-token',
          'KG_IP=127.0.0.1',
          `KG_PORT=${rendezvous.port}`,
          'KG_PORT_RETRIES=0',
          `JUPYTER_CONFIG_DIR=${path.join(dir, 'slurm-kernels-77', 'config')}`,
          'JUPYTER_CONFIG_PATH=',
          'SLURM_KERNELS_USER_JUPYTER_CONFIG_DIR=/home/someone/.jupyter-own',
          'SLURM_EXPORT_ENV=ALL'
        ])
      );
    } finally {
      const exited = new Promise(resolve => job.once('exit', resolve));
      job.kill('SIGTERM');
      await exited;
    }
    // The script's trap removes its node-local runtime directory.
    expect(existsSync(path.join(dir, 'slurm-kernels-77'))).toBe(false);
  });

  it("ends itself when no companion touched it for the dead-man's time and no kernel is busy, never while one is", async () => {
    writeFileSync(jobFiles().tokenFile, 'sekrit-token\n', { mode: 0o600 });
    const kernels = (state: string) =>
      writeFileSync(
        env().SK_TEST_KERNELS,
        JSON.stringify([{ id: 'k', execution_state: state }])
      );
    kernels('busy');
    const job = spawn('/bin/bash', [writeScript(2)], { env: env() });
    let out = '';
    job.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    const exited = new Promise<number | null>(resolve =>
      job.once('exit', resolve)
    );
    try {
      await new Promise(resolve => setTimeout(resolve, 5_000));
      expect(job.exitCode).toBeNull(); // a busy kernel keeps the job, companion or not
      kernels('idle');
      expect(await exited).toBe(DEAD_MAN_EXIT);
      expect(out).toMatch(
        /no companion has been in touch for \d+ s and no kernel is busy: the job ends itself \(dead-man's switch, after 2 s\)/
      );
    } finally {
      job.kill('SIGTERM');
    }
  }, 30_000);

  it("says in its log that Slurm's time-limit warning came (USR1), and keeps the gateway", async () => {
    writeFileSync(jobFiles().tokenFile, 'sekrit-token\n', { mode: 0o600 });
    writeFileSync(env().SK_TEST_KERNELS, '[]');
    const job = spawn('/bin/bash', [writeScript()], { env: env() });
    let out = '';
    job.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    try {
      for (let i = 0; i < 200 && !existsSync(jobFiles().rendezvousFile); i++) {
        await new Promise(resolve => setTimeout(resolve, 50));
      }
      job.kill('SIGUSR1');
      for (let i = 0; i < 100 && !out.includes('time limit is near'); i++) {
        await new Promise(resolve => setTimeout(resolve, 50));
      }
      expect(out).toContain('slurm-kernels: Slurm says the time limit is near');
      await new Promise(resolve => setTimeout(resolve, 500));
      expect(job.exitCode).toBeNull();
    } finally {
      const exited = new Promise(resolve => job.once('exit', resolve));
      job.kill('SIGTERM');
      await exited;
    }
  });
});
