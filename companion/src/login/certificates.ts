/**
 * OpenSSH user certificates for the login (sites like NERSC's sshproxy sign a short-lived key, and
 * their login nodes trust only the CA). ssh2 cannot present one: it parses a certificate as a
 * plain key, and it names the certificate's type inside the signature, where OpenSSH wants the
 * plain algorithm ("key type does not match"). So a certificate login is a key object whose
 * public blob is the certificate and whose signature is the private key's, and an `authPK` of
 * our own for such keys only; every other key goes through ssh2's as before.
 *
 * This reaches into ssh2's protocol object (`_protocol.authPK`, `_packetRW`, `_authsQueue`,
 * `_kex.sessionID`, lib/protocol/utils.js): checked when installed, so a future ssh2 that
 * changes them fails with that said, not with a garbled packet. The lockfile pins ssh2 1.17.
 */
import { Client, ParsedKey, utils } from 'ssh2';

// ssh2 has no "exports" map: its internals are reachable, and pinned by the lockfile.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const protocolUtils = require('ssh2/lib/protocol/utils.js') as {
  sendPacket(protocol: unknown, packet: Buffer): void;
  convertSignature(signature: Buffer, keyType: string): Buffer;
};

/** Marks our certificate keys, with what their signatures need. */
const CERTIFICATE = Symbol('openssh-certificate');

interface ICertificateKey extends ParsedKey {
  [CERTIFICATE]: { signatureAlgorithm: string; baseType: string };
}

/** A certificate type → the algorithm to ask for, the one inside the signature, its hash. */
const ALGORITHMS: Record<string, [string, string, string | undefined]> = {
  'ssh-ed25519-cert-v01@openssh.com': [
    'ssh-ed25519-cert-v01@openssh.com',
    'ssh-ed25519',
    undefined
  ],
  'ssh-rsa-cert-v01@openssh.com': [
    'rsa-sha2-512-cert-v01@openssh.com',
    'rsa-sha2-512',
    'sha512'
  ],
  'ecdsa-sha2-nistp256-cert-v01@openssh.com': [
    'ecdsa-sha2-nistp256-cert-v01@openssh.com',
    'ecdsa-sha2-nistp256',
    'sha256'
  ]
};

/**
 * Whether the certificate (a `*-cert.pub` text) certifies this key (its public blob, as ssh2's
 * getPublicSSH gives it): the certificate's key fields, after its type and nonce, are the key's
 * after its type. OpenSSH pairs them so; a certificate tried with another key would cost one of
 * the server's MaxAuthTries.
 */
export function certifies(
  certificateText: string,
  publicBlob: Buffer
): boolean {
  const base64 = certificateText.trim().split(/\s+/)[1];
  if (!base64) {
    return false;
  }
  const skipStrings = (blob: Buffer, count: number): Buffer | undefined => {
    let at = 0;
    for (let i = 0; i < count; i++) {
      if (at + 4 > blob.length) {
        return undefined;
      }
      at += 4 + blob.readUInt32BE(at);
    }
    return at <= blob.length ? blob.subarray(at) : undefined;
  };
  const certified = skipStrings(Buffer.from(base64, 'base64'), 2);
  const fields = skipStrings(publicBlob, 1);
  return (
    !!certified &&
    !!fields &&
    fields.length > 0 &&
    certified.subarray(0, fields.length).equals(fields)
  );
}

/** The plain key type a certificate certifies ("ssh-ed25519"), or undefined for another file. */
export function certifiedKeyType(certificateText: string): string | undefined {
  const type = certificateText.trim().split(/\s+/)[0];
  return ALGORITHMS[type]
    ? type.replace(/-cert-v01@openssh\.com$/, '')
    : undefined;
}

/**
 * The key to log in with: `privateKey` presented with its certificate (the text of a
 * `*-cert.pub`). Throws, saying why, for a certificate type or key it cannot use.
 */
export function certificateKey(
  privateKey: string | Buffer,
  certificateText: string
): ParsedKey {
  const [type, base64] = certificateText.trim().split(/\s+/);
  const algorithms = ALGORITHMS[type];
  if (!algorithms || !base64) {
    throw new Error(`unsupported certificate type ${type}`);
  }
  let parsed = utils.parseKey(privateKey);
  if (Array.isArray(parsed)) {
    parsed = parsed[0];
  }
  if (parsed instanceof Error || !parsed.isPrivateKey()) {
    throw new Error('the certificate has no private key to go with it');
  }
  const plain = parsed;
  const blob = Buffer.from(base64, 'base64');
  const [requested, signatureAlgorithm, hash] = algorithms;
  // Inherits ssh2's hidden marks of a parsed key, so its auth handler takes it.
  const key = Object.create(plain) as ICertificateKey;
  Object.assign(key, {
    type: requested,
    getPublicSSH: () => blob,
    sign: (data: Buffer) => plain.sign(data, hash),
    [CERTIFICATE]: { signatureAlgorithm, baseType: plain.type }
  });
  return key;
}

/** ssh2's protocol object, as far as a publickey request needs it. */
interface IProtocol {
  authPK(...args: unknown[]): unknown;
  _packetRW: {
    write: {
      alloc(length: number): Buffer;
      allocStart: number;
      finalize(packet: Buffer): Buffer;
    };
  };
  _authsQueue: string[];
  _kex: { sessionID: Buffer };
}

/**
 * Lets `client` log in with certificate keys: call it in the same tick as `client.connect()`,
 * before any byte is exchanged. Throws where this ssh2 is not the one it was written for.
 */
export function allowCertificates(client: Client): void {
  const protocol = (client as unknown as { _protocol?: IProtocol })._protocol;
  if (
    typeof protocol?.authPK !== 'function' ||
    typeof protocolUtils.sendPacket !== 'function' ||
    typeof protocolUtils.convertSignature !== 'function'
  ) {
    throw new Error(
      'this ssh2 cannot be taught certificates (its protocol object changed)'
    );
  }
  const own = protocol.authPK;
  protocol.authPK = function (
    this: IProtocol,
    user: string,
    key: ICertificateKey,
    algorithm?: unknown,
    sign?: unknown
  ) {
    const certificate = key?.[CERTIFICATE];
    if (!certificate) {
      // eslint-disable-next-line prefer-rest-params
      return own.apply(this, arguments as unknown as unknown[]);
    }
    const signer = (typeof algorithm === 'function' ? algorithm : sign) as
      ((data: Buffer, done: (signature: Buffer) => void) => void) | undefined;
    const request = (signed: boolean) =>
      Buffer.concat([
        Buffer.from([50]), // SSH_MSG_USERAUTH_REQUEST
        sshString(user),
        sshString('ssh-connection'),
        sshString('publickey'),
        Buffer.from([signed ? 1 : 0]),
        sshString(key.type),
        sshString(key.getPublicSSH())
      ]);
    const send = (payload: Buffer) => {
      const writer = this._packetRW.write;
      const packet = writer.alloc(payload.length);
      packet.set(payload, writer.allocStart);
      this._authsQueue.push('publickey');
      protocolUtils.sendPacket(this, writer.finalize(packet));
    };
    if (!signer) {
      send(request(false)); // the query: would the server take this key?
      return;
    }
    const body = request(true);
    signer(Buffer.concat([sshString(this._kex.sessionID), body]), signature =>
      send(
        Buffer.concat([
          body,
          sshString(
            Buffer.concat([
              // The plain algorithm, as OpenSSH verifies it.
              sshString(certificate.signatureAlgorithm),
              sshString(
                protocolUtils.convertSignature(signature, certificate.baseType)
              )
            ])
          )
        ])
      )
    );
  };
}

function sshString(value: string | Buffer): Buffer {
  const bytes = Buffer.from(value);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}
