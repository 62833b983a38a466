const strictDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Well-formed UTF-8 as the Payload Format Indicator promises [MQTT-3.3.2-4]. */
export function isValidUtf8(bytes: Uint8Array): boolean {
  try {
    strictDecoder.decode(bytes);
    return true;
  } catch {
    return false;
  }
}
