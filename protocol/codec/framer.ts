export type FrameErrorKind = 'packet-too-large' | 'malformed-length';

export class FrameError extends Error {
  constructor(
    readonly kind: FrameErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'FrameError';
  }
}

/**
 * Splits a byte stream into whole MQTT packets. WebSocket frames do not line
 * up with packets (MQTT.js sends a CONNECT as nine frames), so bytes are
 * gathered here. A whole packet inside one frame is returned as a view without
 * copying; a split packet is copied once into a buffer of its exact size,
 * allocated only after its header proved it fits the size limit.
 */
export class PacketFramer {
  /** Bytes of a fixed header not yet complete (at most 5). */
  private header: number[] = [];
  private pending: Uint8Array | null = null;
  private filled = 0;

  constructor(private readonly maxPacketSize: number) {}

  get bufferedBytes(): number {
    return this.header.length + this.filled;
  }

  reset(): void {
    this.header = [];
    this.pending = null;
    this.filled = 0;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let offset = 0;
    while (offset < chunk.byteLength) {
      if (this.pending) {
        const take = Math.min(this.pending.byteLength - this.filled, chunk.byteLength - offset);
        this.pending.set(chunk.subarray(offset, offset + take), this.filled);
        this.filled += take;
        offset += take;
        if (this.filled === this.pending.byteLength) {
          out.push(this.pending);
          this.pending = null;
          this.filled = 0;
        }
        continue;
      }
      const parsed = this.readHeader(chunk, offset);
      if (parsed === null) {
        // Header incomplete: keep its bytes (never more than 5) for the next frame.
        for (let i = offset; i < chunk.byteLength; i++) this.header.push(chunk[i]);
        return out;
      }
      const { total } = parsed;
      if (this.header.length === 0 && chunk.byteLength - offset >= total) {
        out.push(chunk.subarray(offset, offset + total));
        offset += total;
        continue;
      }
      const packet = new Uint8Array(total);
      packet.set(this.header, 0);
      const fromChunk = chunk.subarray(offset, Math.min(chunk.byteLength, offset + total - this.header.length));
      packet.set(fromChunk, this.header.length);
      this.filled = this.header.length + fromChunk.byteLength;
      offset += fromChunk.byteLength;
      this.header = [];
      if (this.filled === total) {
        out.push(packet);
        this.filled = 0;
      } else {
        this.pending = packet;
      }
    }
    return out;
  }

  /**
   * Reads the fixed header from saved header bytes plus the chunk. Returns the
   * packet's total size and how many header bytes came from the chunk, or null
   * when the header is not complete yet.
   */
  private readHeader(chunk: Uint8Array, offset: number): { total: number; consumed: number } | null {
    const byteAt = (i: number): number | undefined => (i < this.header.length ? this.header[i] : chunk[offset + i - this.header.length]);
    const available = this.header.length + chunk.byteLength - offset;
    if (available < 2) return null;
    let remaining = 0;
    let multiplier = 1;
    let i = 1;
    for (;;) {
      if (i > 4) {
        // The Remaining Length is at most four bytes [MQTT-1.5.5-1].
        throw new FrameError('malformed-length', 'remaining length longer than four bytes');
      }
      if (i >= available) return null;
      const b = byteAt(i)!;
      remaining += (b & 0x7f) * multiplier;
      multiplier *= 128;
      i++;
      if ((b & 0x80) === 0) break;
    }
    const total = i + remaining;
    if (total > this.maxPacketSize) {
      throw new FrameError('packet-too-large', `packet of ${total} bytes exceeds the maximum of ${this.maxPacketSize}`);
    }
    return { total, consumed: i - this.header.length };
  }
}
