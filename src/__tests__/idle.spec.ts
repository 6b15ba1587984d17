import { strictestIdleMinutes } from '../model';

describe('the idle limit', () => {
  it("is the stricter of the user's setting and the site's policy, 0 being none", () => {
    expect(strictestIdleMinutes(0, 0)).toBe(0);
    expect(strictestIdleMinutes(30, 0)).toBe(30);
    expect(strictestIdleMinutes(0, 120)).toBe(120);
    expect(strictestIdleMinutes(240, 120)).toBe(120);
    expect(strictestIdleMinutes(30, 120)).toBe(30);
  });
});
