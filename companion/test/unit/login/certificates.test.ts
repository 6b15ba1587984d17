import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ParsedKey, utils } from 'ssh2';
import {
  agentCertificateKey,
  agentSigning,
  certificateKey,
  certifiedKeyType,
  certifies
} from '../../../src/login/certificates';

describe('OpenSSH user certificates', () => {
  let dir: string;
  const keygen = (...args: string[]) =>
    execFileSync('ssh-keygen', ['-q', ...args], { stdio: 'ignore' });
  const publicOf = (file: string) =>
    (utils.parseKey(readFileSync(file)) as ParsedKey).getPublicSSH();

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sk-cert-'));
    for (const name of ['ca', 'mine', 'other']) {
      keygen('-t', 'ed25519', '-N', '', '-f', path.join(dir, name));
    }
    keygen(
      '-s',
      path.join(dir, 'ca'),
      '-I',
      'test',
      '-n',
      'alice',
      path.join(dir, 'mine.pub')
    );
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('pairs a certificate with the key it certifies only, as OpenSSH does', () => {
    const cert = readFileSync(path.join(dir, 'mine-cert.pub'), 'utf8');
    expect(certifiedKeyType(cert)).toBe('ssh-ed25519');
    expect(certifies(cert, publicOf(path.join(dir, 'mine')))).toBe(true);
    expect(certifies(cert, publicOf(path.join(dir, 'other')))).toBe(false);
    expect(
      certifiedKeyType(readFileSync(path.join(dir, 'mine.pub'), 'utf8'))
    ).toBe(undefined);
  });

  it('presents the certificate as the public key, and signs with the private key', () => {
    const cert = readFileSync(path.join(dir, 'mine-cert.pub'), 'utf8');
    const key = certificateKey(readFileSync(path.join(dir, 'mine')), cert);
    expect(key.type).toBe('ssh-ed25519-cert-v01@openssh.com');
    expect(key.getPublicSSH()).toEqual(
      Buffer.from(cert.trim().split(/\s+/)[1], 'base64')
    );
    const data = Buffer.from('session and request');
    const plain = utils.parseKey(
      readFileSync(path.join(dir, 'mine'))
    ) as ParsedKey;
    expect(plain.verify(data, key.sign(data) as Buffer)).toBe(true);
    expect(() =>
      certificateKey(readFileSync(path.join(dir, 'mine.pub')), cert)
    ).toThrow('the certificate has no private key to go with it');
  });

  it('takes a certificate blob from the agent as a key the agent signs for; a plain blob is none', () => {
    const cert = readFileSync(path.join(dir, 'mine-cert.pub'), 'utf8');
    const blob = Buffer.from(cert.trim().split(/\s+/)[1], 'base64');
    const key = agentCertificateKey(blob) as ParsedKey;
    expect(key.type).toBe('ssh-ed25519-cert-v01@openssh.com');
    expect(key.getPublicSSH()).toEqual(blob);
    expect(agentSigning(key)).toEqual({
      blob,
      flags: 0,
      algorithm: 'ssh-ed25519'
    });
    // The public key it inherits is the one the certificate certifies.
    expect(Object.getPrototypeOf(key).getPublicSSH()).toEqual(
      publicOf(path.join(dir, 'mine'))
    );
    const plain = publicOf(path.join(dir, 'mine'));
    expect(agentCertificateKey(plain)).toBe(undefined);
    expect(agentSigning(utils.parseKey(plain))).toBe(undefined);
    expect(agentCertificateKey(blob.subarray(0, 40))).toBe(undefined);
  });
});
