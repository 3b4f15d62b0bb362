/**
 * ADTS headers for raw AAC frames. FLV carries AAC as an AudioSpecificConfig
 * (sequence header) plus raw frames; MPEG-TS (stream type 0x0F) needs every
 * frame to carry a 7-byte ADTS header instead.
 */

export interface AdtsConfig {
  /** MPEG-4 audio object type of the core codec (2 = AAC LC). ADTS can only say 1..4. */
  objectType: number;
  sampleRateIndex: number;
  channelConfig: number;
  sampleRate: number;
}

const SAMPLE_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/** Parses the fields ADTS needs from an AudioSpecificConfig (ISO 14496-3 1.6.2.1); null if unusable. */
export function parseAudioSpecificConfig(asc: Buffer): AdtsConfig | null {
  let bitPos = 0;
  const read = (n: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++, bitPos++) {
      const byte = asc[bitPos >> 3];
      if (byte === undefined) throw new RangeError('AudioSpecificConfig truncated');
      v = (v << 1) | ((byte >> (7 - (bitPos & 7))) & 1);
    }
    return v;
  };
  const objectTypeField = (): number => { const t = read(5); return t === 31 ? 32 + read(6) : t; };
  try {
    let objectType = objectTypeField();
    let sampleRateIndex = read(4);
    if (sampleRateIndex === 15) return null; // explicit 24-bit rate: ADTS cannot signal it
    const channelConfig = read(4);
    if (objectType === 5 || objectType === 29) {
      // Explicit SBR/PS signalling: the extension rate follows, then the core object type.
      // ADTS describes the core (LC) stream; the decoder finds SBR implicitly.
      const extensionIndex = read(4);
      if (extensionIndex === 15) read(24);
      objectType = objectTypeField();
    }
    if (objectType < 1 || objectType > 4 || sampleRateIndex > 12) return null;
    return { objectType, sampleRateIndex, channelConfig, sampleRate: SAMPLE_RATES[sampleRateIndex]! };
  } catch {
    return null;
  }
}

export const ADTS_HEADER_BYTES = 7;

/** Writes the 7-byte ADTS header (no CRC) for a raw frame of `frameBytes` into `out` at `offset`. */
export function writeAdtsHeader(config: AdtsConfig, frameBytes: number, out: Buffer, offset = 0): void {
  const length = frameBytes + ADTS_HEADER_BYTES;
  out[offset] = 0xff;
  out[offset + 1] = 0xf1; // MPEG-4, layer 0, no CRC
  out[offset + 2] = ((config.objectType - 1) << 6) | (config.sampleRateIndex << 2) | ((config.channelConfig >> 2) & 0x01);
  out[offset + 3] = ((config.channelConfig & 0x03) << 6) | ((length >> 11) & 0x03);
  out[offset + 4] = (length >> 3) & 0xff;
  out[offset + 5] = ((length & 0x07) << 5) | 0x1f; // buffer fullness 0x7FF (VBR)
  out[offset + 6] = 0xfc; // 1 raw data block
}
