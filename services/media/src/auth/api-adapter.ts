import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { ApiError, apiErrorBody } from '@bridgecast/contracts';
import { createStreamKeysHandler } from '@bridgecast/stream-keys';
import type { PlaybackSigner, RecordingRecord, StreamKeyStore, StreamUrlConfig } from '@bridgecast/stream-keys';
import { MAX_BODY_BYTES, payloadTooLargeError } from '@bridgecast/stream-keys';
import type { LiveStreamDescription } from '../http/stream-list.js';
import type { Logger } from '../logger.js';
import { BodyTooLargeError, readBody } from '../http/request-body.js';
import { operatorRefusal } from './operator-request.js';

/**
 * Serves the stream-keys API from the media service's HTTP server at
 * `/api/streams`: a Node request becomes the API Gateway v2 event the
 * Lambda receives, and the very same handler answers it.
 */
export interface LocalApiOptions {
  store: StreamKeyStore;
  urls: StreamUrlConfig;
  /**
   * When set, every client must send `Authorization: Bearer <token>`; when
   * unset, only loopback clients are served, and not pages of other sites
   * (see operator-request.ts).
   */
  apiToken?: string;
  /** PUBLIC_HOST: accepted as the Host of token-bearing requests besides loopback names. */
  publicHost?: string;
  /** After a rotation or revocation: lets the publish authorizer forget the stream's cached keys. */
  onStreamKeyChanged?: (streamId: string) => void;
  logger: Logger;
  /**
   * The live streams on this server. `GET /api/streams` is both the keys
   * API's list and, as on SRS-style servers, the list of live streams; the
   * local server answers with both: the API's `items`, each with a `live`
   * entry (null when off air), and `streams`, the live list.
   */
  liveStreams?: () => LiveStreamDescription[];
  /** This server's playback signing key (see playback-access.ts): private streams and their credentials. */
  playbackSigner?: PlaybackSigner;
  /**
   * The recordings of a stream, newest first, when they are not indexed in
   * the table: locally nothing runs the recording indexer, so they come
   * from the HLS directory (storage/local-recordings.ts).
   */
  listRecordings?: (streamId: string) => Promise<RecordingRecord[]>;
}

export type LocalApiHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** The adapter mounts the API under `/api`, so its routes are `/api/streams...`. */
const BASE_PATH = '/api';

/** How long an oversized upload is drained after the 413 before the connection is cut. */
const LINGER_MS = 1000;

function toApiEvent(req: IncomingMessage, body: Buffer): APIGatewayProxyEventV2 {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const query = Object.fromEntries(url.searchParams);
  const method = req.method ?? 'GET';
  const now = new Date();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    ...(url.search ? { queryStringParameters: query } : {}),
    // base64 passes any bytes through unchanged; the handler checks the encoding.
    ...(body.length > 0 ? { body: body.toString('base64'), isBase64Encoded: true } : { isBase64Encoded: false }),
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: {
        method,
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
  };
}

/** Answers with an error without reading the body, then closes the connection. */
function refuseUnread(req: IncomingMessage, res: ServerResponse, error: ApiError): void {
  res.writeHead(error.status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', connection: 'close', ...error.headers });
  res.end(JSON.stringify(apiErrorBody(error.code, error.message)));
  // Lingering close, as nginx does: closing a socket with unread input sends a
  // reset, which can wipe the answer from the client's buffer before it reads
  // it. So discard input for a moment, then cut any upload off.
  res.once('finish', () => {
    req.resume();
    setTimeout(() => req.destroy(), LINGER_MS).unref();
  });
}

function withLiveStreams(listBody: string, live: LiveStreamDescription[]): string {
  const list = JSON.parse(listBody) as { items: { streamId: string }[] };
  const byName = new Map(live.map((s) => [s.name, s]));
  const items = list.items.map((item) => ({ ...item, live: byName.get(item.streamId) ?? null }));
  return JSON.stringify({ ...list, items, streams: live });
}

/** `store`, with its recordings listed by `list` instead of the table (one page: local lists are short). */
function withRecordingsFrom(store: StreamKeyStore, list: (streamId: string) => Promise<RecordingRecord[]>): StreamKeyStore {
  const overlay = Object.create(store) as StreamKeyStore;
  overlay.listRecordings = async (streamId, { limit }) => ({ items: (await list(streamId)).slice(0, limit) });
  return overlay;
}

export function createLocalApiHandler({
  store, urls, apiToken, publicHost, logger, liveStreams, onStreamKeyChanged, listRecordings, playbackSigner,
}: LocalApiOptions): LocalApiHandler {
  const apiStore = listRecordings ? withRecordingsFrom(store, listRecordings) : store;
  const handler = createStreamKeysHandler({
    store: apiStore, urls, logger, basePath: BASE_PATH, onStreamKeyChanged, playbackSigner: async () => playbackSigner,
  });
  return async (req, res) => {
    const refusal = operatorRefusal(req, { apiToken, publicHost });
    if (refusal) {
      logger.warn({ remoteAddress: req.socket.remoteAddress, host: req.headers.host, origin: req.headers.origin, code: refusal.code }, 'stream-keys API request refused');
      refuseUnread(req, res, refusal);
      return;
    }
    let body: Buffer;
    try {
      body = await readBody(req, MAX_BODY_BYTES);
    } catch (err) {
      if (!(err instanceof BodyTooLargeError)) throw err;
      refuseUnread(req, res, payloadTooLargeError());
      return;
    }
    const event = toApiEvent(req, body);
    const result = await handler(event);
    const isList = event.requestContext.http.method === 'GET' && event.rawPath === `${BASE_PATH}/streams`;
    const responseBody = isList && liveStreams && result.statusCode === 200 ? withLiveStreams(result.body ?? '{}', liveStreams()) : result.body;
    res.writeHead(result.statusCode ?? 200, result.headers as Record<string, string>);
    res.end(responseBody ?? '');
  };
}
