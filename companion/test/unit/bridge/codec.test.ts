import { createHmac } from 'node:crypto';
import {
  DELIMITER,
  decodeWsV1,
  encodeWsV1,
  IMessageParts,
  parseZmqFrames,
  Signer,
  toZmqFrames
} from '../../../src/bridge/codec';

const parts: IMessageParts = {
  header: Buffer.from('{"msg_id":"m1","msg_type":"execute_request"}'),
  parentHeader: Buffer.from('{}'),
  metadata: Buffer.from('{}'),
  content: Buffer.from('{"code":"1+1"}'),
  buffers: [Buffer.from([0, 1, 2, 255])]
};

describe('v1 websocket frames', () => {
  it('lay out offsets exactly as jupyter_server serialize_msg_to_ws_v1 does', () => {
    const frame = encodeWsV1('shell', { ...parts, buffers: [] });
    // 6 offsets (channel start, and the end of channel, header, parent, metadata, content).
    expect(frame.readBigUInt64LE(0)).toBe(6n);
    expect(frame.readBigUInt64LE(8)).toBe(56n);
    expect(frame.readBigUInt64LE(16)).toBe(56n + 5n);
    expect(frame.subarray(56, 61).toString()).toBe('shell');
    expect(frame.length).toBe(
      56 + 5 + parts.header.length + 2 + 2 + parts.content.length
    );
  });

  it('round-trip channel, parts and binary buffers byte for byte', () => {
    const decoded = decodeWsV1(encodeWsV1('iopub', parts));
    expect(decoded.channel).toBe('iopub');
    expect(decoded.parts.header.equals(parts.header)).toBe(true);
    expect(decoded.parts.content.equals(parts.content)).toBe(true);
    expect(decoded.parts.buffers).toHaveLength(1);
    expect(decoded.parts.buffers[0].equals(parts.buffers[0])).toBe(true);
  });

  it('refuse frames whose offsets point outside the frame', () => {
    const frame = encodeWsV1('shell', parts);
    frame.writeBigUInt64LE(BigInt(frame.length + 10), 16);
    expect(() => decodeWsV1(frame)).toThrow(/out of order or out of range/);
    expect(() => decodeWsV1(Buffer.alloc(4))).toThrow(
      /shorter than its header/
    );
  });
});

describe('ZMQ frames and signatures', () => {
  const key = 'a0b1c2';

  it('sign with HMAC-SHA256 over exactly the four parts, as jupyter_client does', () => {
    const frames = toZmqFrames(
      [Buffer.from('client-1')],
      parts,
      new Signer(key)
    );
    const expected = createHmac('sha256', key)
      .update(parts.header)
      .update(parts.parentHeader)
      .update(parts.metadata)
      .update(parts.content)
      .digest('hex');
    expect(frames[0].toString()).toBe('client-1');
    expect(frames[1].equals(DELIMITER)).toBe(true);
    expect(frames[2].toString()).toBe(expected);
    expect(frames.slice(3, 7)).toEqual([
      parts.header,
      parts.parentHeader,
      parts.metadata,
      parts.content
    ]);
    expect(frames[7].equals(parts.buffers[0])).toBe(true);
  });

  it('accept a correctly signed message once, and refuse a forged or replayed one', () => {
    const signer = new Signer(key);
    const frames = toZmqFrames([Buffer.from('id')], parts, new Signer(key));
    expect(signer.verify(parseZmqFrames(frames))).toBe(true);
    expect(signer.verify(parseZmqFrames(frames))).toBe(false); // replay
    const forged = toZmqFrames(
      [Buffer.from('id')],
      { ...parts, content: Buffer.from('{"code":"evil"}') },
      new Signer('other-key')
    );
    expect(signer.verify(parseZmqFrames(forged))).toBe(false);
  });

  it('refuse frames without a delimiter', () => {
    expect(() => parseZmqFrames([Buffer.from('id'), Buffer.from('x')])).toThrow(
      /no delimiter/
    );
  });
});
