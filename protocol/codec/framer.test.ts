import { describe, expect, it } from 'vitest';
import { FrameError, PacketFramer } from './framer';

const publish64 = () => {
  const p = new Uint8Array(64);
  p[0] = 0x30;
  p[1] = 62;
  p[2] = 0;
  p[3] = 3;
  p.set([0x61, 0x2f, 0x62], 4);
  return p;
};

describe('PacketFramer', () => {
  it('returns a whole packet in one frame as a view, without copying', () => {
    const f = new PacketFramer(1024);
    const frame = publish64();
    const [packet] = f.push(frame);
    expect(packet.buffer).toBe(frame.buffer);
    expect(packet.byteLength).toBe(64);
  });

  it('reassembles a packet split in five frames and one byte at a time', () => {
    const whole = publish64();
    const f = new PacketFramer(1024);
    const cuts = [0, 1, 2, 7, 30, 64];
    const out: Uint8Array[] = [];
    for (let i = 0; i < cuts.length - 1; i++) out.push(...f.push(whole.subarray(cuts[i], cuts[i + 1])));
    expect(out).toHaveLength(1);
    expect([...out[0]]).toEqual([...whole]);
    const g = new PacketFramer(1024);
    const bytes: Uint8Array[] = [];
    for (const b of whole) bytes.push(...g.push(new Uint8Array([b])));
    expect(bytes).toHaveLength(1);
    expect(g.bufferedBytes).toBe(0);
  });

  it('splits several packets in one frame and keeps a trailing partial one', () => {
    const f = new PacketFramer(1024);
    const frame = new Uint8Array([0xc0, 0x00, 0xc0, 0x00, 0x30, 0x05, 0x00]);
    expect(f.push(frame)).toHaveLength(2);
    expect(f.bufferedBytes).toBe(3);
    const rest = f.push(new Uint8Array([0x01, 0x61, 0x68, 0x69]));
    expect(rest.map((p) => [...p])).toEqual([[0x30, 0x05, 0x00, 0x01, 0x61, 0x68, 0x69]]);
  });

  it('handles a remaining length split across frames', () => {
    const f = new PacketFramer(100_000);
    const body = new Uint8Array(200);
    const header = new Uint8Array([0x30, 0xc8, 0x01]);
    expect(f.push(header.subarray(0, 2))).toHaveLength(0);
    expect(f.push(header.subarray(2))).toHaveLength(0);
    const out = f.push(body);
    expect(out).toHaveLength(1);
    expect(out[0].byteLength).toBe(203);
  });

  it('refuses an oversized packet from its header alone, and a five-byte remaining length', () => {
    const f = new PacketFramer(1024);
    expect(() => f.push(new Uint8Array([0x30, 0x80, 0x80, 0x40]))).toThrow(FrameError);
    const g = new PacketFramer(1024);
    try {
      g.push(new Uint8Array([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]));
      expect.unreachable();
    } catch (e) {
      expect((e as FrameError).kind).toBe('malformed-length');
    }
  });
});
