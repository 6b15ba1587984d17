import { Slots } from '../../../src/login/slots';

describe('session slots of one connection', () => {
  it('runs at most its size at once, the rest in order of asking', async () => {
    const slots = new Slots(2);
    const started: number[] = [];
    const finish: Array<() => void> = [];
    const tasks = [0, 1, 2, 3].map(i =>
      slots.run(
        () =>
          new Promise<number>(resolve => {
            started.push(i);
            finish[i] = () => resolve(i);
          })
      )
    );
    await new Promise(r => setImmediate(r));
    expect(started).toEqual([0, 1]);
    finish[1]();
    await tasks[1];
    await new Promise(r => setImmediate(r));
    expect(started).toEqual([0, 1, 2]);
    finish[0]();
    finish[2]();
    await new Promise(r => setImmediate(r));
    expect(started).toEqual([0, 1, 2, 3]);
    finish[3]();
    expect(await Promise.all(tasks)).toEqual([0, 1, 2, 3]);
    expect(slots.taken).toBe(0);
  });

  it('frees a slot once however often its release is called, and after a failed task', async () => {
    const slots = new Slots(1);
    const release = await slots.hold();
    release();
    release();
    expect(slots.taken).toBe(0);
    await expect(
      slots.run(async () => {
        throw new Error('failed');
      })
    ).rejects.toThrow('failed');
    expect(slots.taken).toBe(0);
  });
});
