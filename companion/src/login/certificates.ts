/**
 * OpenSSH user certificates for the login (sites like NERSC's sshproxy sign a short-lived key, and
 * their login nodes trust only the CA). ssh2 cannot present one: it parses a certificate as a
 * plain key, and it names the certificate's type inside the signature, where OpenSSH wants the
 * plain algorithm ("key type does not match"). So a certificate login is a key object whose
 * public blob is the certificate and whose signature is the private key's, and an `authPK` of
 * our own for such keys only; every other key goes through ssh2's as before. A certificate the
 * ssh-agent holds is such a key too, the agent signing for it (login/certificateAgent.ts).
 *
 * This reaches into ssh2's protocol object (`_protocol.authPK`, `_packetRW`, `_authsQueue`,
 * `_kex.sessionID`, lib/protocol/utils.js): checked when installed, so a future ssh2 that
 * changes them fails with that said, not with a garbled packet. The lockfile pins ssh2 1.17.
 */
import { Client, ParsedKey, utils } from 'ssh2';
import { readStrings, sshString } from './sshWire';

// ssh2 has no "exports" map: its internals are reachable, and pinned by the lockfile.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const protocolUtils = require('ssh2/lib/protocol/utils.js') as {
  sendPacket(protocol: unknown, packet: Buffer): void;
  convertSignature(signature: Buffer, keyType: string): Buffer;
};

/** Marks our certificate keys, with what their signatures need. */
const CERTIFICATE = Symbol('openssh-certificate');

interface ICertificateKey extends ParsedKey {
  [CERTIFICATE]: {
    signatureAlgorithm: string;
    baseType: string;
    agentFlags: number;
  };
}

/** What logging in with one type of certificate takes. */
interface ICertificateType {
  /** The algorithm to ask for (RSA's names the signature's hash too). */
  requested: string;
  /** The one inside the signature: the plain key's, as OpenSSH verifies it. */
  signatureAlgorithm: string;
  hash?: string;
  /** The certified key's fields after its type (ed25519: the point; RSA: e, n; ECDSA: curve, point). */
  keyFields: number;
  /** SSH2_AGENTC_SIGN_REQUEST's flags for that signature: the agent's default for RSA is SHA-1. */
  agentFlags: number;
}

const SSH_AGENT_RSA_SHA2_512 = 1 << 2;

const CERTIFICATE_TYPES: Record<string, ICertificateType> = {
  'ssh-ed25519-cert-v01@openssh.com': {
    requested: 'ssh-ed25519-cert-v01@openssh.com',
    signatureAlgorithm: 'ssh-ed25519',
    keyFields: 1,
    agentFlags: 0
  },
  'ssh-rsa-cert-v01@openssh.com': {
    requested: 'rsa-sha2-512-cert-v01@openssh.com',
    signatureAlgorithm: 'rsa-sha2-512',
    hash: 'sha512',
    keyFields: 2,
    agentFlags: SSH_AGENT_RSA_SHA2_512
  },
  'ecdsa-sha2-nistp256-cert-v01@openssh.com': {
    requested: 'ecdsa-sha2-nistp256-cert-v01@openssh.com',
    signatureAlgorithm: 'ecdsa-sha2-nistp256',
    hash: 'sha256',
    keyFields: 2,
    agentFlags: 0
  }
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
  const certified = readStrings(Buffer.from(base64, 'base64'), 2)?.rest;
  const fields = readStrings(publicBlob, 1)?.rest;
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
  return CERTIFICATE_TYPES[type] ? plainType(type) : undefined;
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
  const certificateType = CERTIFICATE_TYPES[type];
  if (!certificateType || !base64) {
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
  return Object.assign(
    presentedWith(plain, Buffer.from(base64, 'base64'), certificateType),
    { sign: (data: Buffer) => plain.sign(data, certificateType.hash) }
  );
}

/**
 * A certificate the ssh-agent holds (its blob, as the agent lists it) as a key to log in with:
 * the agent signs for it (see agentSigning). Undefined for a type it cannot use, or for a plain
 * key's blob.
 */
export function agentCertificateKey(blob: Buffer): ParsedKey | undefined {
  const type = readStrings(blob, 1)?.strings[0].toString('latin1') ?? '';
  const certificateType = CERTIFICATE_TYPES[type];
  // The certified key's fields follow the certificate's type and nonce.
  const after = certificateType && readStrings(blob, 2)?.rest;
  const fields = after && readStrings(after, certificateType.keyFields);
  if (!after || !fields) {
    return undefined;
  }
  const plain = utils.parseKey(
    Buffer.concat([
      sshString(plainType(type)),
      after.subarray(0, after.length - fields.rest.length)
    ])
  );
  return plain instanceof Error || Array.isArray(plain)
    ? undefined
    : presentedWith(plain, blob, certificateType);
}

/**
 * For a key of agentCertificateKey's: what to ask the ssh-agent to sign with (the certificate's
 * blob and the flags for its signature), and the algorithm the signature must then name.
 * Undefined for every other key.
 */
export function agentSigning(
  key: unknown
): { blob: Buffer; flags: number; algorithm: string } | undefined {
  const certificate = (key as Partial<ICertificateKey> | undefined)?.[
    CERTIFICATE
  ];
  return certificate
    ? {
        blob: (key as ParsedKey).getPublicSSH(),
        flags: certificate.agentFlags,
        algorithm: certificate.signatureAlgorithm
      }
    : undefined;
}

/**
 * `plain` (a private key, or the public one an agent signs for) presented as its certificate:
 * the certificate's blob is the public key; its signatures are the plain key's.
 */
function presentedWith(
  plain: ParsedKey,
  blob: Buffer,
  certificateType: ICertificateType
): ICertificateKey {
  // Inherits ssh2's hidden marks of a parsed key, so its auth handler takes it.
  const key = Object.create(plain) as ICertificateKey;
  return Object.assign(key, {
    type: certificateType.requested,
    getPublicSSH: () => blob,
    [CERTIFICATE]: {
      signatureAlgorithm: certificateType.signatureAlgorithm,
      baseType: plain.type,
      agentFlags: certificateType.agentFlags
    }
  });
}

function plainType(certificateType: string): string {
  return certificateType.replace(/-cert-v01@openssh\.com$/, '');
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
