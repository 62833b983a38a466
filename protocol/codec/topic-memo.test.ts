import { describe, expect, it } from 'vitest';
import { Buffer } from 'node:buffer';
import { asciiText } from './ascii';
import { TOPIC_MEMO_MAX_BYTES, TopicMemo } from './topic-memo';

/** A memo whose decodings are counted: a topic it remembers is not decoded again. */
function countingMemo() {
  const calls = { n: 0 };
  const memo = new TopicMemo((raw, start, end) => {
    calls.n++;
    return asciiText(raw, start, end);
  });
  return { memo, calls };
}

const bytesOf = (text: string, before = 3, after = 5) => {
  const raw = new Uint8Array(before + text.length + after).fill(0xee);
  for (let i = 0; i < text.length; i++) raw[before + i] = text.charCodeAt(i);
  return { raw, start: before, end: before + text.length };
};

describe('TopicMemo', () => {
  it('decodes a topic once, however often it comes again in later frames', () => {
    const { memo, calls } = countingMemo();
    const a = bytesOf('devices/42/temp');
    expect(memo.textOf(a.raw, a.start, a.end)).toBe('devices/42/temp');
    const b = bytesOf('devices/42/temp', 10, 0);
    expect(memo.textOf(b.raw, b.start, b.end)).toBe('devices/42/temp');
    expect(memo.textOf(b.raw, b.start, b.end)).toBe('devices/42/temp');
    expect(calls.n).toBe(1);
  });

  it('decodes a different topic of the same length, and remembers it instead', () => {
    const { memo, calls } = countingMemo();
    const a = bytesOf('a/b/c');
    const b = bytesOf('a/b/d');
    expect(memo.textOf(a.raw, a.start, a.end)).toBe('a/b/c');
    expect(memo.textOf(b.raw, b.start, b.end)).toBe('a/b/d');
    expect(memo.textOf(b.raw, b.start, b.end)).toBe('a/b/d');
    expect(memo.textOf(a.raw, a.start, a.end)).toBe('a/b/c');
    expect(calls.n).toBe(3);
  });

  it('keeps a copy of the bytes of a Buffer too, whose own slice would be a view of the frame', () => {
    const memo = new TopicMemo();
    const frame = Buffer.from('..x/y..');
    memo.textOf(frame, 2, 5);
    frame.write('z', 2);
    expect(memo.textOf(frame, 2, 5)).toBe('z/y');
  });

  it('keeps a copy: bytes written into the frame afterwards do not change what it compares with', () => {
    const memo = new TopicMemo();
    const a = bytesOf('x/y');
    memo.textOf(a.raw, a.start, a.end);
    a.raw[a.start] = 'z'.charCodeAt(0);
    expect(memo.textOf(a.raw, a.start, a.end)).toBe('z/y');
  });

  it('answers null for bytes that are not ASCII and keeps the topic it had', () => {
    const { memo, calls } = countingMemo();
    const a = bytesOf('t/1');
    expect(memo.textOf(a.raw, a.start, a.end)).toBe('t/1');
    const utf8 = new Uint8Array([0x74, 0x2f, 0xc3, 0xa9]);
    expect(memo.textOf(utf8, 0, utf8.length)).toBeNull();
    const nul = new Uint8Array([0x74, 0x00, 0x31]);
    expect(memo.textOf(nul, 0, nul.length)).toBeNull();
    expect(memo.textOf(a.raw, a.start, a.end)).toBe('t/1');
    expect(calls.n).toBe(3);
  });

  it('decodes a topic longer than TOPIC_MEMO_MAX_BYTES every time, and keeps the one it had', () => {
    const { memo, calls } = countingMemo();
    const short = bytesOf('s');
    expect(memo.textOf(short.raw, short.start, short.end)).toBe('s');
    const long = bytesOf('l'.repeat(TOPIC_MEMO_MAX_BYTES + 1));
    expect(memo.textOf(long.raw, long.start, long.end)).toBe('l'.repeat(TOPIC_MEMO_MAX_BYTES + 1));
    expect(memo.textOf(long.raw, long.start, long.end)).toBe('l'.repeat(TOPIC_MEMO_MAX_BYTES + 1));
    expect(memo.textOf(short.raw, short.start, short.end)).toBe('s');
    expect(calls.n).toBe(3);
    const atMost = bytesOf('m'.repeat(TOPIC_MEMO_MAX_BYTES));
    memo.textOf(atMost.raw, atMost.start, atMost.end);
    memo.textOf(atMost.raw, atMost.start, atMost.end);
    expect(calls.n).toBe(4);
  });

  it('an empty topic is text like any other', () => {
    const memo = new TopicMemo();
    const raw = new Uint8Array([1, 2]);
    expect(memo.textOf(raw, 1, 1)).toBe('');
    expect(memo.textOf(raw, 1, 1)).toBe('');
  });
});
