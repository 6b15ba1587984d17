import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { LoginQuestion } from '../../../../src/api/login';
import { createApp, IListening, listenOnSocket } from '../../../src/http/app';
import { LoginQuestions } from '../../../src/login/questions';
import { CachedCluster } from '../../../src/routes/cluster';
import { FakeRunner } from '../slurm/fake-runner';
import { requestJson } from '../http/request';

const HOST_KEY = {
  cluster: 'hpc',
  host: 'login.hpc.example',
  port: 22,
  keyType: 'ssh-ed25519',
  fingerprint: 'SHA256:J+aVq+OywVNPSJwYoeTZ9nt0LF4SmL0JvEpdolq3/8k'
};
const CODE_ROUND = {
  cluster: 'hpc',
  name: '',
  instructions: '',
  prompts: [{ prompt: 'Verification code: ', echo: false }]
};

describe('what a login asks the person', () => {
  it('announces each question, lists it until it is settled, and settles it once', async () => {
    const questions = new LoginQuestions();
    const announced: LoginQuestion[] = [];
    const settled: string[] = [];
    questions.on('question', q => announced.push(q));
    questions.on('settled', ({ id }) => settled.push(id));

    const trusted = questions.trustNewHostKey(HOST_KEY);
    expect(announced).toEqual([
      { id: expect.any(String), kind: 'host-key', ...HOST_KEY }
    ]);
    expect(questions.pending).toEqual(announced);
    const { id } = announced[0];
    questions.reply(id, { trust: true });
    expect(await trusted).toBe(true);
    expect(settled).toEqual([id]);
    expect(questions.pending).toEqual([]);
    // A second tab's reply comes too late.
    expect(() => questions.reply(id, { trust: false })).toThrow(
      /no login question/
    );
  });

  it('takes as many answers as there are prompts, and a cancel as giving up', async () => {
    const questions = new LoginQuestions();
    const answered = questions.answer(CODE_ROUND);
    const [asked] = questions.pending;
    expect(asked).toMatchObject({
      kind: 'prompts',
      prompts: CODE_ROUND.prompts
    });
    expect(() => questions.reply(asked.id, { answers: [] })).toThrow(
      /1 answer\(s\) expected, 0 given/
    );
    expect(() => questions.reply(asked.id, { trust: true })).toThrow(/answers/);
    questions.reply(asked.id, { answers: ['123456'] });
    expect(await answered).toEqual(['123456']);

    const cancelled = questions.answer(CODE_ROUND);
    questions.reply(questions.pending[0].id, { cancel: true });
    expect(await cancelled).toBeNull();
  });

  it('withdraws a question whose login ended meanwhile', async () => {
    const questions = new LoginQuestions();
    const settled: string[] = [];
    questions.on('settled', ({ id }) => settled.push(id));
    const ended = new AbortController();
    const trusted = questions.trustNewHostKey(HOST_KEY, ended.signal);
    const { id } = questions.pending[0];
    ended.abort();
    expect(await trusted).toBe(false);
    expect(settled).toEqual([id]);
    expect(questions.pending).toEqual([]);
  });
});

describe('the logins API', () => {
  let dir: string;
  let socketPath: string;
  let listening: IListening;
  const questions = new LoginQuestions();

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sk-logins-'));
    socketPath = path.join(dir, 'companion.sock');
    const app = createApp({
      cluster: new CachedCluster(new FakeRunner(() => ({})), 0),
      logins: questions,
      log: pino({ level: 'silent' }),
      version: '9.9.9'
    });
    listening = await listenOnSocket(app, socketPath);
  });

  afterAll(async () => {
    await listening.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists the waiting questions and takes the reply, once', async () => {
    expect((await requestJson(socketPath, 'GET', '/api/logins')).body).toEqual({
      questions: []
    });
    const answered = questions.answer(CODE_ROUND);
    const listed = (await requestJson(socketPath, 'GET', '/api/logins')).body;
    expect(listed.questions).toHaveLength(1);
    const url = `/api/logins/${listed.questions[0].id}`;
    expect(
      await requestJson(socketPath, 'POST', url, { answers: ['1', '2'] })
    ).toMatchObject({
      status: 400,
      body: { error: 'invalid_reply', field: 'answers' }
    });
    expect(
      await requestJson(socketPath, 'POST', url, {
        answers: ['123456'],
        extra: 1
      })
    ).toMatchObject({ status: 400, body: { error: 'invalid_reply' } });
    expect(
      (await requestJson(socketPath, 'POST', url, { answers: ['123456'] }))
        .status
    ).toBe(204);
    expect(await answered).toEqual(['123456']);
    expect(
      await requestJson(socketPath, 'POST', url, { answers: ['123456'] })
    ).toMatchObject({ status: 404, body: { error: 'no_such_question' } });
  });
});
