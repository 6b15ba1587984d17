import { sftpFailure } from '../../../src/login/link';

describe('sftpFailure', () => {
  it("names a startup file's output read as SFTP's first packet, and how to quiet it", () => {
    // "Welc" of "Welcome to the cluster", as ssh2 reads it: a 4-byte length.
    const length = Buffer.from('Welc', 'latin1').readUInt32BE(0);
    const said = sftpFailure(
      `Packet length ${length} exceeds max length of 262144`
    );
    expect(said).toContain('your login shell there printed "Welc…"');
    expect(said).toContain('[[ $- == *i* ]] || return');
  });

  it('passes any other failure on as it came', () => {
    expect(sftpFailure('subsystem request failed')).toBe(
      'no SFTP on the login node: subsystem request failed'
    );
  });
});
