import { Dialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';
import type { LoginQuestion, LoginReply } from '../api/login';
import { hostKeyBody, LoginPrompter, PromptsBody } from '../login';
import { trans } from './fixtures';

const HOST_KEY: LoginQuestion = {
  id: 'q1',
  kind: 'host-key',
  cluster: 'hpc',
  host: 'login.hpc.example',
  port: 2222,
  keyType: 'ssh-ed25519',
  fingerprint: 'SHA256:J+aVq+OywVNPSJwYoeTZ9nt0LF4SmL0JvEpdolq3/8k'
};
const CODE: LoginQuestion = {
  id: 'q2',
  kind: 'prompts',
  cluster: 'hpc',
  name: '',
  instructions: 'Duo two-factor login',
  prompts: [
    { prompt: 'Password: ', echo: false },
    { prompt: 'Passcode or option (1-3): ', echo: true }
  ]
};

describe('the login dialog bodies', () => {
  it('asks each prompt in a field of its own, hidden unless the server echoes it', () => {
    const body = new PromptsBody(CODE as never, trans);
    const inputs = Array.from(body.node.querySelectorAll('input'));
    expect(inputs.map(i => i.type)).toEqual(['password', 'text']);
    expect(
      Array.from(body.node.querySelectorAll('label')).map(l => l.textContent)
    ).toEqual(['Password:', 'Passcode or option (1-3):']);
    expect(body.node.textContent).toContain('Duo two-factor login');
    inputs[0].value = 'secret';
    inputs[1].value = '1';
    expect(body.getValue()).toEqual(['secret', '1']);
  });

  it('shows where the key comes from and its fingerprint', () => {
    const body = hostKeyBody(HOST_KEY as never, trans);
    expect(body.node.textContent).toContain(
      'hpc (login.hpc.example:2222) shows a ssh-ed25519 host key that is not in your known_hosts:'
    );
    expect(body.node.querySelector('pre')?.textContent).toBe(
      HOST_KEY.fingerprint
    );
  });
});

describe('LoginPrompter', () => {
  /** A dialog the test settles: resolve(accept, value) as the person's click. */
  function fakeDialogs() {
    const shown: Array<{
      title: unknown;
      body: Widget;
      settle: (accept: boolean, value?: unknown) => void;
    }> = [];
    const show = ((options: { title: unknown; body: Widget }) =>
      new Promise(resolve =>
        shown.push({
          title: options.title,
          body: options.body,
          settle: (accept, value = null) =>
            resolve({ button: { accept }, value, isChecked: null })
        })
      )) as never;
    return { shown, show };
  }

  function prompter() {
    const dialogs = fakeDialogs();
    const replies: Array<[string, LoginReply]> = [];
    const p = new LoginPrompter({
      serverSettings: {} as never,
      trans,
      show: dialogs.show,
      reply: async (id, reply) => {
        replies.push([id, reply]);
      }
    });
    return { p, replies, shown: dialogs.shown };
  }

  it('sends the answers, in order, or a cancel', async () => {
    const { p, replies, shown } = prompter();
    const asked = p.ask(CODE);
    expect(shown[0].title).toBe('Log in to hpc');
    shown[0].settle(true, ['secret', '1']);
    await asked;
    const again = p.ask({ ...CODE, id: 'q3' });
    shown[1].settle(false);
    await again;
    expect(replies).toEqual([
      ['q2', { answers: ['secret', '1'] }],
      ['q3', { cancel: true }]
    ]);
  });

  it('trusts a host key only when the person says so', async () => {
    const { p, replies, shown } = prompter();
    const trusted = p.ask(HOST_KEY);
    shown[0].settle(true);
    await trusted;
    const refused = p.ask({ ...HOST_KEY, id: 'q4' });
    shown[1].settle(false);
    await refused;
    expect(replies).toEqual([
      ['q1', { trust: true }],
      ['q4', { trust: false }]
    ]);
  });

  it('asks a question once however often it is announced, and sends nothing for one settled elsewhere', async () => {
    const { p, replies, shown } = prompter();
    const asked = p.ask(CODE);
    void p.ask(CODE);
    expect(shown).toHaveLength(1);
    const close = jest.spyOn(Dialog.tracker, 'find').mockReturnValue(undefined);
    p.settled(CODE.id);
    shown[0].settle(false);
    await asked;
    expect(replies).toEqual([]);
    close.mockRestore();
  });

  it("closes a cluster's open dialogs when it is taken out, and sends nothing for them", async () => {
    const { p, replies, shown } = prompter();
    const code = p.ask(CODE);
    const hostKey = p.ask(HOST_KEY);
    expect(shown).toHaveLength(2);
    const close = jest.spyOn(Dialog.tracker, 'find').mockReturnValue(undefined);
    p.closeAll();
    shown.forEach(d => d.settle(true, ['secret', '1']));
    await Promise.all([code, hostKey]);
    expect(replies).toEqual([]);
    close.mockRestore();
  });
});
