export type FrameErrorKind = 'packet-too-large' | 'malformed-length';

export class FrameError extends Error {
  /**
   * Whole packets the same chunk completed before the broken header. They
   * were sent before it and are handled first: a DISCONNECT among them ends
   * the connection as its client asked, the will discarded [MQTT-3.14.4-3].
   */
  completed: Uint8Array[] = [];

  constructor(
    readonly kind: FrameErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'FrameError';
  }
}

/** A fixed header is one type byte plus at most four Remaining Length bytes. */
const MAX_HEADER_BYTES = 5;
const INCOMPLETE = -1;

/**
 * Reads a fixed header from `bytes[start..end)` and returns the whole packet's
 * size, or INCOMPLETE when the Remaining Length has not fully arrived yet.
 * Throws as soon as the header proves the packet unacceptable, so nothing of
 * an oversized packet is ever buffered.
 */
function packetSize(bytes: Uint8Array, start: number, end: number, maxPacketSize: number): number {
  let remaining = 0;
  let multiplier = 1;
  let i = start + 1;
  for (;;) {
    if (i - start === MAX_HEADER_BYTES) {
      // At most four Remaining Length bytes [MQTT-1.5.5-1].
      throw new FrameError('malformed-length', 'remaining length longer than four bytes');
    }
    if (i >= end) return INCOMPLETE;
    const b = bytes[i++];
    remaining += (b & 0x7f) * multiplier;
    multiplier *= 128;
    if ((b & 0x80) === 0) {
      if (b === 0 && i - start > 2) {
        // A trailing zero group means more bytes than needed [MQTT-1.5.5-1].
        throw new FrameError('malformed-length', 'remaining length not minimally encoded');
      }
      break;
    }
  }
  const total = i - start + remaining;
  if (total > maxPacketSize) {
    throw new FrameError('packet-too-large', `packet of ${total} bytes exceeds the maximum of ${maxPacketSize}`);
  }
  return total;
}

/** What a packet spread over chunks reserves before its bytes arrive: small packets get their whole size at once. */
const INITIAL_PENDING_BYTES = 1024;

/**
 * Splits a byte stream into whole MQTT packets. WebSocket frames need not line
 * up with packets (MQTT.js sends a CONNECT as nine frames), so bytes are
 * gathered here.
 *
 * A packet lying wholly inside one chunk is returned as a view of that chunk,
 * without copying: callers must not modify a chunk after pushing it. A packet
 * spread over several chunks is copied into a buffer that grows with the bytes
 * that arrive (up to its size, once its header has shown that it fits the
 * limit): a header alone, which costs a client five bytes, never reserves
 * the whole announced size.
 */
export class PacketFramer {
  /** Start of a fixed header whose Remaining Length is still incomplete. */
  private readonly header = new Uint8Array(MAX_HEADER_BYTES);
  private headerLength = 0;
  /** A packet whose header is known, being filled from successive chunks; `pendingSize` is its whole size. */
  private pending: Uint8Array | null = null;
  private pendingSize = 0;
  private filled = 0;

  /** @param maxPacketSize largest acceptable packet, fixed header included (as MQTT 5 Maximum Packet Size). */
  constructor(private readonly maxPacketSize: number) {
    if (!Number.isInteger(maxPacketSize) || maxPacketSize < 2) {
      throw new RangeError(`maxPacketSize must be an integer of at least 2, got ${maxPacketSize}`);
    }
  }

  get bufferedBytes(): number {
    return this.pending !== null ? this.filled : this.headerLength;
  }

  /** Memory held for the packet in progress: at most twice what arrived of it, or INITIAL_PENDING_BYTES. */
  get reservedBytes(): number {
    return this.pending !== null ? this.pending.byteLength : this.headerLength;
  }

  reset(): void {
    this.headerLength = 0;
    this.pending = null;
    this.pendingSize = 0;
    this.filled = 0;
  }

  /**
   * Returns the packets completed by this chunk, in order. Throws FrameError
   * when a header is malformed or announces a packet over the limit, with
   * the packets completed before it (FrameError.completed); the stream cannot
   * be resynchronised after that, so the framer is reset.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    const end = chunk.byteLength;
    let offset = 0;
    try {
      while (offset < end) {
        if (this.pending !== null) {
          offset = this.fill(chunk, offset, out);
          continue;
        }
        if (this.headerLength > 0) {
          offset = this.continueHeader(chunk, offset, out);
          continue;
        }
        const total = packetSize(chunk, offset, end, this.maxPacketSize);
        if (total === INCOMPLETE) {
          // Fewer than five bytes, or packetSize would have decided.
          this.header.set(chunk.subarray(offset, end));
          this.headerLength = end - offset;
          break;
        }
        if (end - offset >= total) {
          out.push(chunk.subarray(offset, offset + total));
          offset += total;
          continue;
        }
        this.startPending(total, 0);
        offset = this.fill(chunk, offset, out);
      }
    } catch (err) {
      this.reset();
      if (err instanceof FrameError) err.completed = out;
      throw err;
    }
    return out;
  }

  /** Takes header bytes one at a time until the Remaining Length is complete. */
  private continueHeader(chunk: Uint8Array, offset: number, out: Uint8Array[]): number {
    while (offset < chunk.byteLength) {
      this.header[this.headerLength++] = chunk[offset++];
      const total = packetSize(this.header, 0, this.headerLength, this.maxPacketSize);
      if (total === INCOMPLETE) continue;
      if (total === this.headerLength) {
        // No body (PINGREQ, a bare DISCONNECT): complete already.
        out.push(this.header.slice(0, total));
      } else {
        this.startPending(total, this.headerLength);
        this.pending!.set(this.header.subarray(0, this.headerLength));
      }
      this.headerLength = 0;
      return offset;
    }
    return offset;
  }

  /** A packet of `size` bytes begins, `filled` of them already known. */
  private startPending(size: number, filled: number): void {
    this.pendingSize = size;
    this.filled = filled;
    this.pending = new Uint8Array(Math.min(size, Math.max(INITIAL_PENDING_BYTES, filled)));
  }

  private fill(chunk: Uint8Array, offset: number, out: Uint8Array[]): number {
    const take = Math.min(this.pendingSize - this.filled, chunk.byteLength - offset);
    const needed = this.filled + take;
    if (needed > this.pending!.byteLength) {
      // Doubling keeps the copies few; never beyond the announced size.
      const grown = new Uint8Array(Math.min(this.pendingSize, Math.max(needed, this.pending!.byteLength * 2)));
      grown.set(this.pending!.subarray(0, this.filled));
      this.pending = grown;
    }
    this.pending!.set(chunk.subarray(offset, offset + take), this.filled);
    this.filled = needed;
    if (this.filled === this.pendingSize) {
      out.push(this.pending!);
      this.pending = null;
      this.pendingSize = 0;
      this.filled = 0;
    }
    return offset + take;
  }
}
