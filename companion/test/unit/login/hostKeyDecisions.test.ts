import {
  HostKeyDecisions,
  type HostKeyVerdict
} from '../../../src/login/hostKeyDecisions';

/** An ask the test answers when it likes, counting how often the person was asked. */
function person() {
  const answers: Array<(v: HostKeyVerdict) => void> = [];
  return {
    answers,
    ask: () => new Promise<HostKeyVerdict>(resolve => answers.push(resolve))
  };
}

const tick = () => new Promise(resolve => setImmediate(resolve));

it('asks once for logins meeting the same key at once, and each takes the answer', async () => {
  const decisions = new HostKeyDecisions();
  const p = person();
  const first = decisions.decide('login:2222 SHA256:x', p.ask);
  const second = decisions.decide('login:2222 SHA256:x', p.ask);
  await tick();
  expect(p.answers).toHaveLength(1);
  p.answers[0]('trusted');
  await expect(Promise.all([first, second])).resolves.toEqual([
    'trusted',
    'trusted'
  ]);
  // Decided, it is asked again only by a login that meets it after (known_hosts has it by then).
  void decisions.decide('login:2222 SHA256:x', p.ask);
  await tick();
  expect(p.answers).toHaveLength(2);
});

it('asks apart for another key, and shares a refusal', async () => {
  const decisions = new HostKeyDecisions();
  const p = person();
  const door = decisions.decide('login:2222 SHA256:x', p.ask);
  const other = decisions.decide('login2:22 SHA256:y', p.ask);
  const doorAgain = decisions.decide('login:2222 SHA256:x', p.ask);
  await tick();
  expect(p.answers).toHaveLength(2);
  p.answers[0]('refused');
  p.answers[1]('trusted');
  await expect(Promise.all([door, other, doorAgain])).resolves.toEqual([
    'refused',
    'trusted',
    'refused'
  ]);
});

it('a question withdrawn with its login is asked again by a login still waiting; a login aborted stops waiting', async () => {
  const decisions = new HostKeyDecisions();
  const p = person();
  const first = decisions.decide('k', p.ask);
  const waiting = decisions.decide('k', p.ask);
  const aborted = new AbortController();
  const givingUp = decisions.decide('k', p.ask, aborted.signal);
  aborted.abort();
  await expect(givingUp).resolves.toBe('withdrawn');
  await tick();
  p.answers[0]('withdrawn');
  await expect(first).resolves.toBe('withdrawn');
  await tick();
  // The waiting login asked itself.
  expect(p.answers).toHaveLength(2);
  p.answers[1]('trusted');
  await expect(waiting).resolves.toBe('trusted');
});
