/** Reading FLV streams (HTTP-FLV responses, files) back into tags, for byte-level comparisons. */
import http from 'node:http';

export interface FlvTag {
  type: number;
  /** 32-bit timestamp (the extended byte included). */
  timestamp: number;
  body: Buffer;
}

/** Parses an FLV byte stream: header flags and complete tags (a truncated last tag is left out). */
export function parseFlv(data: Buffer): { hasAudio: boolean; hasVideo: boolean; tags: FlvTag[] } {
  if (data.length < 13 || data.toString('latin1', 0, 3) !== 'FLV') throw new Error('not an FLV stream');
  const headerLength = data.readUInt32BE(5);
  const tags: FlvTag[] = [];
  let p = headerLength + 4; // header + PreviousTagSize0
  while (p + 11 <= data.length) {
    const size = data.readUIntBE(p + 1, 3);
    if (p + 11 + size + 4 > data.length) break;
    const timestamp = (data.readUIntBE(p + 4, 3) | (data[p + 7]! << 24)) >>> 0;
    tags.push({ type: data[p]!, timestamp, body: data.subarray(p + 11, p + 11 + size) });
    const previousTagSize = data.readUInt32BE(p + 11 + size);
    if (previousTagSize !== 11 + size) throw new Error(`PreviousTagSize ${previousTagSize} != ${11 + size} at ${p}`);
    p += 11 + size + 4;
  }
  return { hasAudio: (data[4]! & 4) !== 0, hasVideo: (data[4]! & 1) !== 0, tags };
}

/**
 * GETs an HTTP-FLV URL and resolves once the response headers arrived,
 * with a promise of the whole body (it completes when the stream ends).
 */
export function openFlvStream(url: string): Promise<{ status: number; body: Promise<Buffer>; request: http.ClientRequest }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, (res) => {
      const chunks: Buffer[] = [];
      const body = new Promise<Buffer>((done, fail) => {
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done(Buffer.concat(chunks)));
        res.on('error', fail);
      });
      resolve({ status: res.statusCode ?? 0, body, request });
    });
    request.on('error', reject);
  });
}
