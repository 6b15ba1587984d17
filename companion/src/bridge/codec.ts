/**
 * The two wire formats the bridge translates between, with no sockets here:
 *
 * - Jupyter's ZMQ messages: `[identities…, "<IDS|MSG>", HMAC, header, parent_header, metadata,
 *   content, buffers…]`, signed with HMAC over exactly the four packed parts (jupyter_client
 *   session.py `sign`).
 * - The `v1.kernel.websocket.jupyter.org` frame: u64le count n, n u64le offsets, then the channel name
 *   and the parts header, parent_header, metadata, content, buffers… (jupyter_server
 *   `serialize_msg_to_ws_v1`). The gateway strips signatures; the bridge signs with the local key.
 *
 * Parts stay the bytes they arrived as: content and buffers are never decoded and re-encoded.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const DELIMITER = Buffer.from('<IDS|MSG>');

/** The four signed parts followed by binary buffers. */
export interface IMessageParts {
  header: Buffer;
  parentHeader: Buffer;
  metadata: Buffer;
  content: Buffer;
  buffers: Buffer[];
}

export interface IZmqMessage extends IMessageParts {
  identities: Buffer[];
  signature: Buffer;
}

export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecError';
  }
}

/** Splits ZMQ frames at the delimiter. */
export function parseZmqFrames(frames: Buffer[]): IZmqMessage {
  const at = frames.findIndex(f => f.equals(DELIMITER));
  if (at < 0 || frames.length < at + 6) {
    throw new CodecError(
      'not a Jupyter message: no delimiter or fewer than 5 parts after it'
    );
  }
  const [signature, header, parentHeader, metadata, content, ...buffers] =
    frames.slice(at + 1);
  return {
    identities: frames.slice(0, at),
    signature,
    header,
    parentHeader,
    metadata,
    content,
    buffers
  };
}

export function toZmqFrames(
  identities: Buffer[],
  parts: IMessageParts,
  signer: Signer
): Buffer[] {
  const signed = [
    parts.header,
    parts.parentHeader,
    parts.metadata,
    parts.content
  ];
  return [
    ...identities,
    DELIMITER,
    Buffer.from(signer.sign(signed)),
    ...signed,
    ...parts.buffers
  ];
}

export function encodeWsV1(channel: string, parts: IMessageParts): Buffer {
  const body = [
    Buffer.from(channel, 'utf8'),
    parts.header,
    parts.parentHeader,
    parts.metadata,
    parts.content,
    ...parts.buffers
  ];
  const count = body.length + 1;
  const head = Buffer.alloc(8 * (count + 1));
  head.writeBigUInt64LE(BigInt(count), 0);
  let offset = head.length;
  head.writeBigUInt64LE(BigInt(offset), 8);
  body.forEach((part, i) => {
    offset += part.length;
    head.writeBigUInt64LE(BigInt(offset), 8 * (i + 2));
  });
  return Buffer.concat([head, ...body]);
}

export function decodeWsV1(frame: Buffer): {
  channel: string;
  parts: IMessageParts;
} {
  if (frame.length < 8) {
    throw new CodecError('v1 frame shorter than its header');
  }
  const count = Number(frame.readBigUInt64LE(0));
  if (count < 6 || 8 * (count + 1) > frame.length) {
    throw new CodecError(
      `v1 frame with ${count} offsets cannot hold a channel and four parts`
    );
  }
  const offsets: number[] = [];
  for (let i = 0; i < count; i++) {
    offsets.push(Number(frame.readBigUInt64LE(8 * (i + 1))));
  }
  for (let i = 1; i < count; i++) {
    if (offsets[i] < offsets[i - 1] || offsets[i] > frame.length) {
      throw new CodecError('v1 frame offsets out of order or out of range');
    }
  }
  const slices: Buffer[] = [];
  for (let i = 0; i < count - 1; i++) {
    slices.push(frame.subarray(offsets[i], offsets[i + 1]));
  }
  const [channel, header, parentHeader, metadata, content, ...buffers] = slices;
  return {
    channel: channel.toString('utf8'),
    parts: { header, parentHeader, metadata, content, buffers }
  };
}

/**
 * HMAC signing and checking with the key of the local connection file, with a history of digests so
 * a replayed message is refused (jupyter_client `Session.digest_history`).
 */
export class Signer {
  constructor(
    private readonly _key: string,
    scheme = 'hmac-sha256',
    private readonly _historySize = 2 ** 16
  ) {
    const match = /^hmac-(.+)$/.exec(scheme);
    if (!match) {
      throw new CodecError(`unsupported signature scheme ${scheme}`);
    }
    this._algorithm = match[1];
  }

  sign(parts: Buffer[]): string {
    if (!this._key) {
      return '';
    }
    const hmac = createHmac(this._algorithm, this._key);
    for (const part of parts) {
      hmac.update(part);
    }
    return hmac.digest('hex');
  }

  /** Checks a received message's signature; false for a wrong, missing or replayed one. */
  verify(message: IZmqMessage): boolean {
    if (!this._key) {
      return true;
    }
    const expected = Buffer.from(
      this.sign([
        message.header,
        message.parentHeader,
        message.metadata,
        message.content
      ])
    );
    const given = message.signature;
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return false;
    }
    const digest = given.toString('latin1');
    if (this._history.has(digest)) {
      return false;
    }
    this._history.add(digest);
    if (this._history.size > this._historySize) {
      // Forget the older half at once, as jupyter_client does, instead of one entry per message.
      const keep = [...this._history].slice(this._historySize / 2);
      this._history = new Set(keep);
    }
    return true;
  }

  private _algorithm: string;
  private _history = new Set<string>();
}

/** The msg_id of a header part, or of a parent_header part (empty for none). */
export function msgIdOf(headerPart: Buffer): string {
  if (headerPart.length <= 2) {
    return '';
  }
  const header = JSON.parse(headerPart.toString('utf8')) as { msg_id?: string };
  return header.msg_id ?? '';
}

/** The session of a header part ('' for none): Jupyter's clients use it as their ZMQ identity. */
export function sessionOf(headerPart: Buffer): string {
  if (headerPart.length <= 2) {
    return '';
  }
  const header = JSON.parse(headerPart.toString('utf8')) as {
    session?: string;
  };
  return header.session ?? '';
}

/**
 * The topic an IOPub message is published under, `kernel.<msg_type>` (ipykernel's form, without its
 * process id): a subscriber can take status messages alone, as the Jupyter Server's activity watcher
 * does (jupyterlab_slurm_kernels/kernel_ws.py), and skip the output.
 */
export function iopubTopic(headerPart: Buffer): Buffer {
  let msgType = '';
  try {
    msgType = msgTypeOf(headerPart);
  } catch {
    // not JSON: Jupyter refuses the message anyway; the topic does not matter
  }
  return Buffer.from(`kernel.${msgType || 'iopub'}`);
}

export function msgTypeOf(headerPart: Buffer): string {
  return (
    (JSON.parse(headerPart.toString('utf8')) as { msg_type?: string })
      .msg_type ?? ''
  );
}
