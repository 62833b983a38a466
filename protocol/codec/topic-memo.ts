import { asciiText } from './ascii';

/** Longer topics are decoded every time: the memo keeps at most this many bytes per connection. */
export const TOPIC_MEMO_MAX_BYTES = 256;

/**
 * The last topic one connection published to, as its bytes and as the
 * string decoded from them (3.1/3.1.1 PUBLISH read directly, ASCII topics up
 * to TOPIC_MEMO_MAX_BYTES). A device publishes to the same topic over and
 * over; handing back the very same string lets the steps after decoding
 * recognise it by identity (the topic already validated for this
 * connection) and find it in their caches by a hash the string already
 * holds (ACL decisions, subscription matches), instead of building,
 * scanning and hashing a new string for every message.
 */
export class TopicMemo {
  private bytes: Uint8Array | null = null;
  private text = '';

  /** `decode` is asciiText; a test may count its calls. */
  constructor(private readonly decode: typeof asciiText = asciiText) {}

  /** The ASCII topic in raw[start, end), or null when it is not ASCII (asciiText). */
  textOf(raw: Uint8Array, start: number, end: number): string | null {
    const bytes = this.bytes;
    if (bytes !== null && bytes.length === end - start && sameBytes(bytes, raw, start)) return this.text;
    const text = this.decode(raw, start, end);
    if (text !== null && end - start <= TOPIC_MEMO_MAX_BYTES) {
      // A copy: `raw` is the packet's frame, which the memo must not keep alive (a Buffer's own slice would be a view).
      this.bytes = Uint8Array.prototype.slice.call(raw, start, end);
      this.text = text;
    }
    return text;
  }
}

function sameBytes(bytes: Uint8Array, raw: Uint8Array, start: number): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== raw[start + i]) return false;
  return true;
}
