import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { Logger } from 'pino';
import { ApiError, apiErrorBody } from '@bridgecast/contracts';
import { encodeCursor } from './cursor.js';
import { apiPath, matchRoute, type RouteMatch } from './routes.js';
import {
  ConcurrentUpdateError,
  StreamNotFoundError,
  StreamRevokedError,
  type Page,
  type RecordingRecord,
  type StreamKeyStore,
  type StreamRecord,
} from './store.js';
import { ingestUrls, playbackUrls, recordingUrl, type StreamUrlConfig } from './urls.js';
import { decodeBody, parseCreateStreamBody, parsePageQuery, parseRotateBody } from './validation.js';

export interface StreamKeysHandlerOptions {
  store: StreamKeyStore;
  urls: StreamUrlConfig;
  logger: Logger;
  /** Path the API is mounted under besides a stage prefix, e.g. `/api` locally. */
  basePath?: string;
  /**
   * Called after a key was rotated or a stream revoked. The local server
   * uses it to drop the publish authorizer's cached keys at once; a Lambda
   * shares no process with any authorizer and leaves it unset.
   */
  onStreamKeyChanged?: (streamId: string) => void;
}

export type StreamKeysHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

interface Reply {
  status: number;
  body: unknown;
}

/** What a stream looks like to API clients: never the key or its hash. */
function describeStream(urls: StreamUrlConfig, stream: StreamRecord) {
  return {
    streamId: stream.streamId,
    name: stream.name,
    status: stream.status,
    keyVersion: stream.keyVersion,
    createdAt: stream.createdAt,
    updatedAt: stream.updatedAt,
    ...(stream.rotatedAt ? { rotatedAt: stream.rotatedAt } : {}),
    ...(stream.revokedAt ? { revokedAt: stream.revokedAt } : {}),
    playback: playbackUrls(urls, stream.streamId),
  };
}

/** The one response that shows a key: after creation and after rotation. */
function describeIssuedKey(urls: StreamUrlConfig, issued: { stream: StreamRecord; streamKey: string }) {
  return {
    ...describeStream(urls, issued.stream),
    streamKey: issued.streamKey,
    ingest: ingestUrls(urls, issued.streamKey),
  };
}

function describeRecording(urls: StreamUrlConfig, streamId: string, recording: RecordingRecord) {
  const { vodKey: _storageKey, ...fields } = recording;
  return { ...fields, playback: { hls: recordingUrl(urls, streamId, recording.broadcastId) } };
}

function pageBody<T>(page: Page<T>, items: unknown[]) {
  return { items, ...(page.nextKey ? { nextCursor: encodeCursor(page.nextKey) } : {}) };
}

/** Store outcomes that are the client's doing, as API errors. */
function storeErrorToApiError(err: unknown): unknown {
  if (err instanceof StreamNotFoundError) return new ApiError(404, 'stream_not_found', 'no stream with this id');
  if (err instanceof StreamRevokedError) return new ApiError(409, 'stream_revoked', 'the stream is revoked');
  if (err instanceof ConcurrentUpdateError) {
    return new ApiError(409, 'concurrent_update', 'the stream was changed by another request at the same time; retry');
  }
  return err;
}

function header(event: APIGatewayProxyEventV2, name: string): string | undefined {
  // API Gateway lowercases header names in payload v2; the local adapter does too.
  return event.headers?.[name];
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: status,
    // Responses can carry a stream key: no caching anywhere.
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}

/** Builds the API Gateway (HTTP API, payload v2) handler over a store. */
export function createStreamKeysHandler({ store, urls, logger, basePath = '', onStreamKeyChanged }: StreamKeysHandlerOptions): StreamKeysHandler {
  async function perform(route: RouteMatch, event: APIGatewayProxyEventV2): Promise<Reply> {
    const query = event.queryStringParameters ?? {};
    const streamId = route.streamId ?? '';
    switch (route.operation) {
      case 'createStream': {
        const text = decodeBody(event.body, event.isBase64Encoded);
        const { name } = parseCreateStreamBody(text, header(event, 'content-type'));
        const issued = await store.createStream(name);
        logger.info({ streamId: issued.stream.streamId }, 'stream created');
        return { status: 201, body: describeIssuedKey(urls, issued) };
      }
      case 'listStreams': {
        const page = await store.listStreams(parsePageQuery(query));
        return { status: 200, body: pageBody(page, page.items.map((s) => describeStream(urls, s))) };
      }
      case 'getStream': {
        const stream = await store.getStream(streamId);
        if (!stream) throw new StreamNotFoundError(streamId);
        return { status: 200, body: describeStream(urls, stream) };
      }
      case 'rotateKey': {
        parseRotateBody(decodeBody(event.body, event.isBase64Encoded), header(event, 'content-type'));
        const issued = await store.rotateKey(streamId);
        logger.info({ streamId, keyVersion: issued.stream.keyVersion }, 'stream key rotated');
        onStreamKeyChanged?.(streamId);
        return { status: 200, body: describeIssuedKey(urls, issued) };
      }
      case 'revokeStream': {
        const stream = await store.revokeStream(streamId);
        logger.info({ streamId }, 'stream revoked');
        onStreamKeyChanged?.(streamId);
        return { status: 200, body: describeStream(urls, stream) };
      }
      case 'listRecordings': {
        const paging = parsePageQuery(query);
        if (!(await store.getStream(streamId))) throw new StreamNotFoundError(streamId);
        const page = await store.listRecordings(streamId, paging);
        return { status: 200, body: pageBody(page, page.items.map((r) => describeRecording(urls, streamId, r))) };
      }
    }
  }

  return async (event) => {
    const method = event.requestContext?.http?.method ?? 'GET';
    try {
      const path = apiPath(event.rawPath ?? '/', event.requestContext?.stage, basePath);
      if (path === undefined) throw new ApiError(404, 'not_found', 'no such route');
      const reply = await perform(matchRoute(method, path), event);
      return json(reply.status, reply.body);
    } catch (caught) {
      const err = storeErrorToApiError(caught);
      if (err instanceof ApiError) return json(err.status, apiErrorBody(err.code, err.message), err.headers);
      // Details go to the log only; the client gets a request id to quote.
      const requestId = event.requestContext?.requestId;
      logger.error({ err, method, path: event.rawPath, requestId }, 'stream-keys request failed');
      return json(500, apiErrorBody('internal_error', 'internal error', requestId));
    }
  };
}
