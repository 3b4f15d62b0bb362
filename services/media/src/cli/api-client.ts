import { Sha256 } from '@aws-crypto/sha256-js';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { SignatureV4 } from '@smithy/signature-v4';
import { isLoopback } from '../auth/loopback.js';

/**
 * HTTP calls to the stream-keys API, local or deployed. The deployed API
 * (API Gateway with IAM authorization) needs SigV4-signed requests; the
 * local one takes an optional bearer token instead.
 */
export interface ApiClientOptions {
  /** Base URL up to and excluding `/streams`, e.g. http://127.0.0.1:8080/api. */
  apiUrl: string;
  token?: string;
  /** Sign with SigV4 even for a loopback URL (an SSH tunnel to the real API); non-loopback URLs are always signed. */
  forceSigV4?: boolean;
  region?: string;
  /** Where credentials come from; the default chain (env, profile, SSO, instance role...) when omitted. */
  credentials?: ReturnType<typeof fromNodeProviderChain>;
}

export interface ApiResponse {
  status: number;
  body: unknown;
}

export type ApiRequester = (method: string, path: string, body?: unknown) => Promise<ApiResponse>;

export function createApiClient(options: ApiClientOptions): ApiRequester {
  const base = new URL(options.apiUrl.replace(/\/+$/, ''));
  const sign = options.forceSigV4 || !isLoopback(base.hostname);
  let signer: SignatureV4 | undefined;
  if (sign) {
    if (!options.region) throw new Error('the API is not local, so requests are SigV4-signed: pass --region or set AWS_REGION');
    signer = new SignatureV4({
      service: 'execute-api',
      region: options.region,
      credentials: options.credentials ?? fromNodeProviderChain(),
      sha256: Sha256,
    });
  }

  return async (method, path, body) => {
    const url = new URL(base.pathname + path, base);
    const text = body === undefined ? undefined : JSON.stringify(body);
    let headers: Record<string, string> = { accept: 'application/json', host: url.host };
    if (text !== undefined) headers['content-type'] = 'application/json';
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (signer) {
      const signed = await signer.sign({
        method,
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers,
        ...(text !== undefined ? { body: text } : {}),
      });
      headers = signed.headers;
    }
    // fetch sets Host itself (from the URL signed above) and refuses to take it from us.
    const { host: _host, ...sendable } = headers;
    const response = await fetch(url, { method, headers: sendable, body: text });
    const raw = await response.text();
    let parsed: unknown = raw;
    try {
      parsed = JSON.parse(raw);
    } catch {
      // not JSON (a proxy's error page): hand back the text
    }
    return { status: response.status, body: parsed };
  };
}
