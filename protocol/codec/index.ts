export { PacketFramer, FrameError, type FrameErrorKind } from './framer';
export { decodePacket, type DecodeResult } from './decode';
export { encodePacket } from './encode';
