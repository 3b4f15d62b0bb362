import { ApiError, badRequest } from '@bridgecast/contracts';
import { validateStreamId } from './validation.js';

/**
 * Maps a method and path to one of the API's operations. Pure, so the
 * routing table is tested without DynamoDB.
 */
export type Operation = 'listStreams' | 'createStream' | 'getStream' | 'revokeStream' | 'rotateKey' | 'listRecordings' | 'issuePlayback';

export interface RouteMatch {
  operation: Operation;
  streamId?: string;
}

/** Path shapes after `/streams`, with the operation for each method. `{id}` marks a stream id. */
const ROUTES: { shape: string[]; methods: Partial<Record<string, Operation>> }[] = [
  { shape: [], methods: { GET: 'listStreams', POST: 'createStream' } },
  { shape: ['{id}'], methods: { GET: 'getStream', DELETE: 'revokeStream' } },
  { shape: ['{id}', 'rotate'], methods: { POST: 'rotateKey' } },
  { shape: ['{id}', 'recordings'], methods: { GET: 'listRecordings' } },
  { shape: ['{id}', 'playback'], methods: { POST: 'issuePlayback' } },
];

const notFound = () => new ApiError(404, 'not_found', 'no such route');

/**
 * The part of the path from `/streams` on. API Gateway puts a named stage
 * in front (`/prod/streams`), a custom domain or the local server a base
 * path (`/api/streams`); both are removed, anything else is not ours.
 */
export function apiPath(rawPath: string, stage: string | undefined, basePath: string): string | undefined {
  let path = rawPath;
  if (stage && stage !== '$default' && path.startsWith(`/${stage}/`)) path = path.slice(stage.length + 1);
  if (basePath && path.startsWith(`${basePath}/`)) path = path.slice(basePath.length);
  return path === '/streams' || path.startsWith('/streams/') ? path : undefined;
}

/** Resolves a request to an operation, or throws the 400/404/405 it deserves. */
export function matchRoute(method: string, path: string): RouteMatch {
  const segments = path.replace(/\/$/, '').split('/').slice(2);
  const decoded = segments.map((segment) => {
    try {
      return decodeURIComponent(segment);
    } catch {
      throw badRequest('invalid_path', 'path is not valid percent-encoding');
    }
  });
  const route = ROUTES.find(
    ({ shape }) => shape.length === decoded.length && shape.every((part, i) => part === '{id}' || part === decoded[i]),
  );
  if (!route) throw notFound();
  const operation = route.methods[method];
  if (!operation) {
    const allow = Object.keys(route.methods).join(', ');
    throw new ApiError(405, 'method_not_allowed', `use ${allow} on this route`, { Allow: allow });
  }
  return route.shape[0] === '{id}' ? { operation, streamId: validateStreamId(decoded[0]) } : { operation };
}
