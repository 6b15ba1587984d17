/**
 * Helpers for tests on the real testbed (dev/testbed/up.sh). They run as an ordinary user.
 */
import os from 'node:os';

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs = 30_000,
  intervalMs = 100
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise(resolve => setTimeout(resolve, intervalMs));
  }
}

export function requireTestUser(): string {
  const user = os.userInfo().username;
  if (user === 'root') {
    throw new Error(
      'integration tests run as the ordinary test user (e.g. runuser -u alice), not root'
    );
  }
  return user;
}
