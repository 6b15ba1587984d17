/** SSH's wire encoding (RFC 4251 §5), as far as certificates and the ssh-agent need it. */

/** A `string`: its length (uint32, big-endian), then its bytes. */
export function sshString(value: string | Buffer): Buffer {
  const bytes = Buffer.from(value);
  return Buffer.concat([sshUint32(bytes.length), bytes]);
}

export function sshUint32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value);
  return bytes;
}

/**
 * The first `count` strings of `blob`, and the bytes after them; undefined where `blob` ends
 * before them (a truncated or foreign blob).
 */
export function readStrings(
  blob: Buffer,
  count: number
): { strings: Buffer[]; rest: Buffer } | undefined {
  const strings: Buffer[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 4 > blob.length) {
      return undefined;
    }
    const end = at + 4 + blob.readUInt32BE(at);
    if (end > blob.length) {
      return undefined;
    }
    strings.push(blob.subarray(at + 4, end));
    at = end;
  }
  return { strings, rest: blob.subarray(at) };
}
