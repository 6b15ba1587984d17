/**
 * The ssh-agent, with the certificates it holds. `ssh-add` of a key whose `-cert.pub` lies beside
 * it adds both (NERSC's sshproxy users do this), but ssh2's agent client lists only the identities
 * it can parse as a plain key, so the certificate vanishes. This one asks the agent for its
 * identities itself (SSH2_AGENTC_REQUEST_IDENTITIES) and keeps the certificates, as keys of
 * login/certificates.ts, and signs for them itself (SSH2_AGENTC_SIGN_REQUEST with the
 * certificate's blob, which ssh2's cannot send); plain keys are signed by ssh2's client as before.
 *
 * The agent protocol: draft-miller-ssh-agent (each message a uint32 length, then a type byte).
 */
import { createConnection } from 'node:net';
import {
  IdentityCallback,
  OpenSSHAgent,
  ParsedKey,
  SignCallback,
  SigningRequestOptions,
  utils
} from 'ssh2';
import { agentCertificateKey, agentSigning } from './certificates';
import { readStrings, sshString, sshUint32 } from './sshWire';

const SSH_AGENT_FAILURE = 5;
const SSH2_AGENTC_REQUEST_IDENTITIES = 11;
const SSH2_AGENT_IDENTITIES_ANSWER = 12;
const SSH2_AGENTC_SIGN_REQUEST = 13;
const SSH2_AGENT_SIGN_RESPONSE = 14;

export class CertificateAgent extends OpenSSHAgent {
  constructor(private readonly _socketPath: string) {
    super(_socketPath);
  }

  /**
   * The agent's certificates first, then its plain keys: where a site trusts a CA, the plain key
   * is in no authorized_keys, and each key refused costs one of the server's MaxAuthTries.
   */
  getIdentities(cb: IdentityCallback<ParsedKey>): void {
    agentRequest(
      this._socketPath,
      Buffer.from([SSH2_AGENTC_REQUEST_IDENTITIES]),
      SSH2_AGENT_IDENTITIES_ANSWER
    )
      .then(identityBlobs)
      .then(blobs => {
        const certificates: ParsedKey[] = [];
        const plain: ParsedKey[] = [];
        for (const blob of blobs) {
          const certificate = agentCertificateKey(blob);
          const key = certificate ?? utils.parseKey(blob);
          // A type neither ssh2 nor we can use (a certificate of another kind, a FIDO key).
          if (!(key instanceof Error) && !Array.isArray(key)) {
            (certificate ? certificates : plain).push(key);
          }
        }
        return [...certificates, ...plain];
      })
      .then(
        keys => cb(null, keys),
        (err: Error) => cb(err)
      );
  }

  sign(
    pubKey: ParsedKey | Buffer | string,
    data: Buffer,
    options?: SigningRequestOptions | SignCallback,
    cb?: SignCallback
  ): boolean {
    const signing = agentSigning(pubKey);
    if (!signing) {
      return super.sign(pubKey, data, options as SigningRequestOptions, cb);
    }
    const done =
      (typeof options === 'function' ? options : cb) ?? (() => undefined);
    agentRequest(
      this._socketPath,
      Buffer.concat([
        Buffer.from([SSH2_AGENTC_SIGN_REQUEST]),
        sshString(signing.blob),
        sshString(data),
        sshUint32(signing.flags)
      ]),
      SSH2_AGENT_SIGN_RESPONSE
    )
      .then(body => signatureBytes(body, signing.algorithm))
      .then(
        signature => done(null, signature),
        (err: Error) => done(err)
      );
    return true;
  }
}

/**
 * One request to the agent and the body of its answer (after the type byte): a connection for
 * each, as ssh2's own agent client does. Rejects where the agent refuses (a key it no longer
 * holds, a confirmation declined) or answers with another message than `answerType`.
 */
function agentRequest(
  socketPath: string,
  request: Buffer,
  answerType: number
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let received = Buffer.alloc(0);
    const fail = (why: string) => {
      socket.destroy();
      reject(new Error(`ssh-agent: ${why}`));
    };
    socket.on('error', err => fail(err.message));
    socket.on('close', () => fail('closed the connection without an answer'));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const answer = readStrings(received, 1)?.strings[0];
      if (!answer) {
        return; // more to come
      }
      if (answer[0] !== answerType) {
        fail(
          answer[0] === SSH_AGENT_FAILURE
            ? 'refused the request'
            : `answered with message ${answer[0]}`
        );
        return;
      }
      resolve(answer.subarray(1));
      socket.destroy();
    });
    socket.write(sshString(request));
  });
}

/** SSH2_AGENT_IDENTITIES_ANSWER's key blobs (each is followed by its comment). */
function identityBlobs(body: Buffer): Buffer[] {
  const count = body.length >= 4 ? body.readUInt32BE(0) : -1;
  const identities = count >= 0 && readStrings(body.subarray(4), 2 * count);
  if (!identities) {
    throw new Error('ssh-agent: a list of identities that ends too soon');
  }
  return identities.strings.filter((_, i) => i % 2 === 0);
}

/**
 * The signature's bytes from SSH2_AGENT_SIGN_RESPONSE (a string: the algorithm, the bytes), where
 * the agent signed with `algorithm`: one that ignored the flags (SHA-1 for RSA) would only have the
 * server refuse it.
 */
function signatureBytes(body: Buffer, algorithm: string): Buffer {
  const signature = readStrings(body, 1)?.strings[0];
  const [signedWith, bytes] =
    (signature && readStrings(signature, 2)?.strings) ?? [];
  if (!bytes) {
    throw new Error('ssh-agent: a signature that ends too soon');
  }
  if (signedWith.toString('latin1') !== algorithm) {
    throw new Error(
      `ssh-agent: signed with ${signedWith.toString('latin1')}, not ${algorithm}`
    );
  }
  return bytes;
}
