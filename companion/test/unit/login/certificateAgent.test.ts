import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ParsedKey, utils } from 'ssh2';
import { CertificateAgent } from '../../../src/login/certificateAgent';
import { agentCertificateKey } from '../../../src/login/certificates';
import { ITestAgent, startSshAgent } from '../../sshAgent';

/** A real ssh-agent holding an ed25519 and an RSA key, each with its certificate (ssh-add adds both). */
describe('the ssh-agent with certificates', () => {
  let dir: string;
  let agent: ITestAgent;
  const file = (name: string) => path.join(dir, name);
  const keygen = (...args: string[]) =>
    execFileSync('ssh-keygen', ['-q', ...args], { stdio: 'ignore' });
  const publicKey = (name: string) =>
    utils.parseKey(readFileSync(file(`${name}.pub`))) as ParsedKey;
  const blobOf = (name: string) =>
    Buffer.from(
      readFileSync(file(`${name}-cert.pub`), 'utf8').split(' ')[1],
      'base64'
    );
  const sign = (key: ParsedKey, data: Buffer, hash?: 'sha512') =>
    new Promise<Buffer>((resolve, reject) =>
      new CertificateAgent(agent.socket).sign(
        key,
        data,
        { hash },
        (err, signature) => (err ? reject(err) : resolve(signature as Buffer))
      )
    );

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sk-agent-'));
    keygen('-t', 'ed25519', '-N', '', '-f', file('ca'));
    keygen('-t', 'ed25519', '-N', '', '-f', file('mine'));
    keygen('-t', 'rsa', '-b', '2048', '-N', '', '-f', file('rsa'));
    keygen('-t', 'ed25519', '-N', '', '-f', file('elsewhere'));
    for (const name of ['mine', 'rsa', 'elsewhere']) {
      keygen('-s', file('ca'), '-I', name, '-n', 'alice', file(`${name}.pub`));
    }
    agent = await startSshAgent(file('agent.sock'), [
      file('mine'),
      file('rsa')
    ]);
  });

  afterAll(() => {
    agent?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists the certificates first, each as its certificate type, then the plain keys', async () => {
    const keys = await new Promise<ParsedKey[]>((resolve, reject) =>
      new CertificateAgent(agent.socket).getIdentities((err, found) =>
        err ? reject(err) : resolve(found as ParsedKey[])
      )
    );
    expect(keys.map(key => key.type)).toEqual([
      'ssh-ed25519-cert-v01@openssh.com',
      'rsa-sha2-512-cert-v01@openssh.com',
      'ssh-ed25519',
      'ssh-rsa'
    ]);
    expect(keys[0].getPublicSSH()).toEqual(blobOf('mine'));
    expect(keys[2].getPublicSSH()).toEqual(publicKey('mine').getPublicSSH());
  });

  it('has the agent sign for a certificate with the plain algorithm (SHA-512 for RSA)', async () => {
    const data = Buffer.from('session and request');
    const ed25519 = agentCertificateKey(blobOf('mine')) as ParsedKey;
    expect(publicKey('mine').verify(data, await sign(ed25519, data))).toBe(
      true
    );
    const rsa = agentCertificateKey(blobOf('rsa')) as ParsedKey;
    expect(publicKey('rsa').verify(data, await sign(rsa, data), 'sha512')).toBe(
      true
    );
  });

  it('signs with a plain key as ssh2 does', async () => {
    const data = Buffer.from('plain');
    const plain = publicKey('mine');
    expect(plain.verify(data, await sign(plain, data))).toBe(true);
  });

  it('says so when the agent does not hold the certificate', async () => {
    const absent = agentCertificateKey(blobOf('elsewhere')) as ParsedKey;
    await expect(sign(absent, Buffer.from('x'))).rejects.toThrow(
      'ssh-agent: refused the request'
    );
  });
});
