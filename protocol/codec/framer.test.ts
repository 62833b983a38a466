import { describe, expect, it } from 'vitest';
import { FrameError, PacketFramer } from './framer';
import { Buffer } from 'node:buffer';
import { concat, generate, splitAt, vbi } from './test-support';

const LIMIT = 1024 * 1024;

/** A QoS 0 PUBLISH of exactly `total` bytes (topic "t"), built by hand so large sizes stay cheap. */
function publishOfSize(total: number): Uint8Array {
  for (let lengthBytes = 1; lengthBytes <= 4; lengthBytes++) {
    const remaining = total - 1 - lengthBytes;
    const encoded = vbi(remaining);
    if (encoded.length !== lengthBytes) continue;
    const out = new Uint8Array(total);
    out.set([0x30, ...encoded, 0x00, 0x01, 0x74]);
    out.fill(0x61, 1 + lengthBytes + 3);
    return out;
  }
  throw new Error(`cannot build a PUBLISH of ${total} bytes`);
}

/** Byte equality without vitest's element-by-element diffing, which is slow for megabytes. */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

const connect = generate(
  { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'framer-test', clean: true, keepalive: 30, properties: { sessionExpiryInterval: 60 } },
  5,
);
const pingreq = Uint8Array.from([0xc0, 0x00]);

function pushAll(framer: PacketFramer, chunks: Uint8Array[]): Uint8Array[] {
  return chunks.flatMap((c) => framer.push(c));
}

function frameError(fn: () => unknown): FrameError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FrameError);
    return err as FrameError;
  }
  throw new Error('expected a FrameError');
}

describe('PacketFramer', () => {
  it('returns a whole packet in one chunk as a view of that chunk, without copying', () => {
    const framer = new PacketFramer(LIMIT);
    const chunk = publishOfSize(64);
    const [out] = framer.push(chunk);
    expect(out.buffer).toBe(chunk.buffer);
    expect(out.byteOffset).toBe(chunk.byteOffset);
    expect(out.byteLength).toBe(64);
    expect(framer.bufferedBytes).toBe(0);
  });

  it('cuts several packets out of one chunk, each a view of it', () => {
    const framer = new PacketFramer(LIMIT);
    const publish = publishOfSize(64);
    const chunk = concat(connect, publish, pingreq, publish);
    const out = framer.push(chunk);
    expect(out.map((p) => p.length)).toEqual([connect.length, 64, 2, 64]);
    expect(out.every((p) => p.buffer === chunk.buffer)).toBe(true);
    expect(out[3]).toEqual(publish);
  });

  it('reassembles a stream fed one byte at a time', () => {
    const framer = new PacketFramer(LIMIT);
    const stream = concat(connect, publishOfSize(300), pingreq, publishOfSize(20000));
    const out: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i++) out.push(...framer.push(stream.subarray(i, i + 1)));
    expect(same(concat(...out), stream)).toBe(true);
    expect(out.map((p) => p.length)).toEqual([connect.length, 300, 2, 20000]);
    expect(framer.bufferedBytes).toBe(0);
  });

  it('reassembles a 64-byte PUBLISH sent as five frames', () => {
    const framer = new PacketFramer(LIMIT);
    const publish = publishOfSize(64);
    const chunks = splitAt(publish, 1, 2, 5, 30);
    expect(chunks).toHaveLength(5);
    const out: Uint8Array[] = [];
    for (const c of chunks.slice(0, 4)) expect(framer.push(c)).toEqual([]);
    out.push(...framer.push(chunks[4]));
    expect(out).toEqual([publish]);
    // Copied once into a buffer of exactly the packet's size.
    expect(out[0].buffer.byteLength).toBe(64);
  });

  it('reassembles a CONNECT sent as nine frames', () => {
    const framer = new PacketFramer(LIMIT);
    const cuts = [1, 2, 4, 8, 9, 10, 12, 16];
    const chunks = splitAt(connect, ...cuts);
    expect(chunks).toHaveLength(9);
    expect(pushAll(framer, chunks)).toEqual([connect]);
  });

  it('handles a packet split inside its Remaining Length bytes', () => {
    for (const [size, lengthBytes] of [
      [300, 2],
      [20_000, 3],
      [2_100_000, 4],
    ]) {
      const publish = publishOfSize(size);
      expect(publish[lengthBytes] & 0x80).toBe(0);
      for (let cut = 1; cut <= lengthBytes; cut++) {
        const framer = new PacketFramer(4 * 1024 * 1024);
        expect(framer.push(publish.subarray(0, cut))).toEqual([]);
        expect(framer.bufferedBytes).toBe(cut);
        const [out] = framer.push(publish.subarray(cut));
        expect(out.length).toBe(size);
        expect(same(out, publish)).toBe(true);
      }
    }
  });

  it('completes a body-less packet whose header ends a chunk', () => {
    const framer = new PacketFramer(LIMIT);
    expect(framer.push(pingreq.subarray(0, 1))).toEqual([]);
    expect(framer.push(pingreq.subarray(1))).toEqual([pingreq]);
    expect(framer.bufferedBytes).toBe(0);
  });

  it('keeps what follows a split packet in the same chunk', () => {
    const framer = new PacketFramer(LIMIT);
    const publish = publishOfSize(100);
    expect(framer.push(publish.subarray(0, 50))).toEqual([]);
    expect(framer.bufferedBytes).toBe(50);
    const out = framer.push(concat(publish.subarray(50), pingreq, connect.subarray(0, 3)));
    expect(out).toEqual([publish, pingreq]);
    expect(framer.bufferedBytes).toBe(3);
    expect(framer.push(connect.subarray(3))).toEqual([connect]);
  });

  it('accepts a packet of exactly the maximum size and refuses one byte more', () => {
    expect(new PacketFramer(64).push(publishOfSize(64))).toHaveLength(1);
    const err = frameError(() => new PacketFramer(63).push(publishOfSize(64)));
    expect(err.kind).toBe('packet-too-large');
  });

  it('refuses an oversized packet from its header alone, before any body arrives', () => {
    const framer = new PacketFramer(LIMIT);
    // Remaining Length 268,435,455: the largest MQTT allows.
    const err = frameError(() => framer.push(Uint8Array.from([0x30, 0xff, 0xff, 0xff, 0x7f])));
    expect(err.kind).toBe('packet-too-large');
    expect(framer.bufferedBytes).toBe(0);
  });

  it('reserves memory as a large packet arrives, not when its header announces it', () => {
    const framer = new PacketFramer(LIMIT);
    const big = publishOfSize(200_000);
    // The header and a few bytes: five bytes from the client must not hold 200 KB of the broker's memory.
    expect(framer.push(big.subarray(0, 8))).toEqual([]);
    expect(framer.bufferedBytes).toBe(8);
    expect(framer.reservedBytes).toBeLessThanOrEqual(1024);
    const out: Uint8Array[] = [];
    for (let at = 8; at < big.byteLength; at += 1000) {
      out.push(...framer.push(big.subarray(at, Math.min(at + 1000, big.byteLength))));
      if (out.length === 0) expect(framer.reservedBytes).toBeLessThanOrEqual(Math.max(1024, 2 * framer.bufferedBytes));
    }
    expect(out).toHaveLength(1);
    expect(same(out[0], big)).toBe(true);
    expect(framer.bufferedBytes).toBe(0);
    expect(framer.reservedBytes).toBe(0);
  });

  it('grows a packet whose header came a byte at a time, keeping the header bytes', () => {
    const framer = new PacketFramer(LIMIT);
    const big = publishOfSize(5_000);
    // 0x30 and a two-byte Remaining Length, one byte per chunk.
    for (let i = 0; i < 3; i++) expect(framer.push(big.subarray(i, i + 1))).toEqual([]);
    expect(framer.reservedBytes).toBeLessThanOrEqual(1024);
    const out = pushAll(framer, splitAt(big.subarray(3), 700, 1500, 3000));
    expect(out).toHaveLength(1);
    expect(same(out[0], big)).toBe(true);
  });

  it('refuses an oversized packet whose header arrives in pieces', () => {
    const framer = new PacketFramer(LIMIT);
    expect(framer.push(Uint8Array.from([0x30, 0xff]))).toEqual([]);
    expect(framer.push(Uint8Array.from([0xff]))).toEqual([]);
    const err = frameError(() => framer.push(Uint8Array.from([0x7f])));
    expect(err.kind).toBe('packet-too-large');
    expect(framer.bufferedBytes).toBe(0);
  });

  it('refuses a Remaining Length of more than four bytes without waiting for a fifth', () => {
    const err = frameError(() => new PacketFramer(LIMIT).push(Uint8Array.from([0x30, 0x80, 0x80, 0x80, 0x80])));
    expect(err.kind).toBe('malformed-length');

    const framer = new PacketFramer(LIMIT);
    expect(framer.push(Uint8Array.from([0x30, 0x80, 0x80]))).toEqual([]);
    expect(frameError(() => framer.push(Uint8Array.from([0x80, 0x80]))).kind).toBe('malformed-length');
  });

  it('refuses a Remaining Length that is not minimally encoded [MQTT-1.5.5-1]', () => {
    expect(frameError(() => new PacketFramer(LIMIT).push(Uint8Array.from([0xc0, 0x80, 0x00]))).kind).toBe('malformed-length');
    expect(frameError(() => new PacketFramer(LIMIT).push(Uint8Array.from([0x30, 0x85, 0x80, 0x00]))).kind).toBe('malformed-length');
  });

  it('hands over the packets a chunk completed before its broken header, with the error', () => {
    // DISCONNECT, PINGREQ, then a header whose Remaining Length runs past four bytes.
    const err = frameError(() => new PacketFramer(LIMIT).push(Uint8Array.from([0xe0, 0x00, 0xc0, 0x00, 0x30, 0xff, 0xff, 0xff, 0xff, 0x01])));
    expect(err.kind).toBe('malformed-length');
    expect(err.completed.map((p) => [...p])).toEqual([[0xe0, 0x00], [0xc0, 0x00]]);
  });

  it('forgets everything on reset', () => {
    const framer = new PacketFramer(LIMIT);
    framer.push(publishOfSize(100).subarray(0, 40));
    expect(framer.bufferedBytes).toBe(40);
    framer.reset();
    expect(framer.bufferedBytes).toBe(0);
    expect(framer.push(pingreq)).toEqual([pingreq]);
  });

  it('ignores empty chunks', () => {
    const framer = new PacketFramer(LIMIT);
    expect(framer.push(new Uint8Array(0))).toEqual([]);
    framer.push(pingreq.subarray(0, 1));
    expect(framer.push(new Uint8Array(0))).toEqual([]);
    expect(framer.bufferedBytes).toBe(1);
  });

  it('rejects a nonsensical limit', () => {
    expect(() => new PacketFramer(0)).toThrow(RangeError);
    expect(() => new PacketFramer(Number.NaN)).toThrow(RangeError);
  });
});
