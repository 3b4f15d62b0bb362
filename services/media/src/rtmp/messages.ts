/** RTMP message type ids (RTMP specification 1.0, sections 5.4 and 7.1). */
export const enum MessageType {
  SetChunkSize = 1,
  Abort = 2,
  Acknowledgement = 3,
  UserControl = 4,
  WindowAckSize = 5,
  SetPeerBandwidth = 6,
  Audio = 8,
  Video = 9,
  DataAmf3 = 15,
  SharedObjectAmf3 = 16,
  CommandAmf3 = 17,
  DataAmf0 = 18,
  SharedObjectAmf0 = 19,
  CommandAmf0 = 20,
  Aggregate = 22,
}

/** User control event types (section 7.1.7). */
export const enum UserControlEvent {
  StreamBegin = 0,
  StreamEof = 1,
  StreamDry = 2,
  SetBufferLength = 3,
  StreamIsRecorded = 4,
  PingRequest = 6,
  PingResponse = 7,
}

/** Chunk stream ids we send on; the peer's choice of ids is free. */
export const enum ChunkStreamId {
  Protocol = 2,
  Command = 3,
  Audio = 4,
  Data = 5,
  Video = 6,
}

export interface RtmpMessage {
  type: number;
  /** Absolute timestamp in ms (32-bit, wraps). */
  timestamp: number;
  streamId: number;
  payload: Buffer;
}

/** A violation of the protocol by the peer; its connection is closed with this reason. */
export class RtmpProtocolError extends Error {
  override readonly name = 'RtmpProtocolError';
}
