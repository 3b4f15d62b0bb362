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
import { issuePlaybackCredential, type PlaybackSigner } from './playback-credentials.js';
import { credentialedPlayUrls, ingestUrls, playbackUrls, recordingUrl, type StreamUrlConfig } from './urls.js';
import { decodeBody, parseCreateStreamBody, parsePageQuery, parsePlaybackBody, parseRotateBody } from './validation.js';

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
  /**
   * The key that signs playback credentials (CloudFront's format), or
   * undefined where private playback is not set up: then private streams
   * cannot be created. Async: the Lambda reads it from Secrets Manager.
   */
  playbackSigner?: () => Promise<PlaybackSigner | undefined>;
  /** Clock in unix seconds, replaceable in tests. */
  nowSeconds?: () => number;
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
    private: stream.private,
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
const notConfigured = () => new ApiError(409, 'private_playback_not_configured',
  'private playback is not set up on this deployment (locally it always is; in AWS deploy with -c privatePlayback=true)');

export function createStreamKeysHandler({
  store, urls, logger, basePath = '', onStreamKeyChanged, playbackSigner = async () => undefined, nowSeconds = () => Math.floor(Date.now() / 1000),
}: StreamKeysHandlerOptions): StreamKeysHandler {
  async function perform(route: RouteMatch, event: APIGatewayProxyEventV2): Promise<Reply> {
    const query = event.queryStringParameters ?? {};
    const streamId = route.streamId ?? '';
    switch (route.operation) {
      case 'createStream': {
        const text = decodeBody(event.body, event.isBase64Encoded);
        const body = parseCreateStreamBody(text, header(event, 'content-type'));
        // A private stream nobody can be given a credential for could never be watched: refuse it up front.
        if (body.private && !(await playbackSigner())) throw notConfigured();
        const issued = await store.createStream(body.name, { private: body.private });
        logger.info({ streamId: issued.stream.streamId, private: body.private }, 'stream created');
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
      case 'issuePlayback': {
        const { expiresInSeconds, viewerIp } = parsePlaybackBody(decodeBody(event.body, event.isBase64Encoded), header(event, 'content-type'));
        const stream = await store.getStream(streamId);
        if (!stream) throw new StreamNotFoundError(streamId);
        if (stream.status !== 'active') throw new StreamRevokedError(streamId);
        const signer = await playbackSigner();
        if (!signer) throw notConfigured();
        const expiresAt = nowSeconds() + expiresInSeconds;
        const credential = issuePlaybackCredential(signer, urls.hlsBaseUrl, 'live', streamId, { expiresAt, viewerIp });
        logger.info({ streamId, expiresAt, boundToAddress: viewerIp !== undefined }, 'playback credential issued');
        return {
          status: 200,
          body: {
            streamId,
            private: stream.private,
            expiresAt: new Date(expiresAt * 1000).toISOString(),
            // Set these on the viewer's browser for the HLS domain (Secure; HttpOnly; SameSite as fits the app); see docs/deploy.md.
            cookies: credential.cookies,
            token: credential.token,
            playback: credentialedPlayUrls(urls, streamId, credential.token),
          },
        };
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
