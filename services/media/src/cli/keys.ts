import { parseArgs } from 'node:util';
import { createApiClient, type ApiRequester, type ApiResponse } from './api-client.js';
import type { ApiErrorBody } from '@bridgecast/contracts';

/**
 * `bridgecast keys`: issue, list, show, rotate and revoke stream keys
 * through the stream-keys API, the local server's or the deployed one.
 */
const USAGE = `Usage: bridgecast keys <command> [options]

Commands:
  create <name>        issue a stream key (shown once)
  list                 list streams
  show <streamId>      show a stream (never its key)
  rotate <streamId>    issue a new key; the old one stops working
  revoke <streamId>    revoke the stream; its key stops working
  recordings <streamId> list the stream's recordings
  playback <streamId>  issue a viewer's playback credential (cookies for HLS, a token for FLV/RTMP/KCP)

Options:
  --api URL       API base URL (default: the local server, found as \`serve\` listens:
                  http://127.0.0.1:$HTTP_PORT/api, 8080 unless set; a deployed API is SigV4-signed)
  --token TOKEN   bearer token of a local server started with API_TOKEN (default: $API_TOKEN)
  --region NAME   AWS region for SigV4 (default: $AWS_REGION)
  --sigv4         sign even when the URL is loopback (e.g. an SSH tunnel)
  --json          print the API's JSON response
  --private       (create) a private stream: played only with a credential from "playback"
  --expires SEC   (playback) lifetime of the credential in seconds (default 3600, at most 86400)
  --viewer-ip IP  (playback) bind the credential to the viewer's address or CIDR
`;

export interface CommandOutput {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const processOutput: CommandOutput = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
};

interface StreamView {
  streamId: string;
  name: string;
  status: string;
  keyVersion: number;
  createdAt: string;
  rotatedAt?: string;
  revokedAt?: string;
  private?: boolean;
  playback: { hls: string; flv: string };
  streamKey?: string;
  ingest?: { rtmp: string; kcp: string };
}

interface RecordingView {
  broadcastId: string;
  startedAt?: string;
  durationSeconds?: number;
  status?: string;
  playback: { hls: string };
}

function formatStream(stream: StreamView): string {
  const lines = [
    `Stream ${stream.streamId} "${stream.name}" (${stream.status}${stream.private ? ', private' : ''}, key version ${stream.keyVersion})`,
    `  Created:      ${stream.createdAt}`,
    ...(stream.rotatedAt ? [`  Rotated:      ${stream.rotatedAt}`] : []),
    ...(stream.revokedAt ? [`  Revoked:      ${stream.revokedAt}`] : []),
  ];
  if (stream.streamKey && stream.ingest) {
    const server = stream.ingest.rtmp.slice(0, stream.ingest.rtmp.lastIndexOf('/'));
    lines.push(
      `  Stream key:   ${stream.streamKey}`,
      `                (shown only now; store it, it cannot be retrieved again)`,
      `  OBS server:   ${server}`,
      `  RTMP publish: ${stream.ingest.rtmp}`,
      `  KCP publish:  ${stream.ingest.kcp}`,
    );
  }
  lines.push(`  Watch (HLS):  ${stream.playback.hls}`, `  Watch (FLV):  ${stream.playback.flv}`);
  return `${lines.join('\n')}\n`;
}

function formatStreamList({ items, nextCursor }: { items: StreamView[]; nextCursor?: string }): string {
  if (items.length === 0) return 'No streams.\n';
  const rows = items.map((s) => `${s.streamId.padEnd(22)} ${s.status.padEnd(8)} ${s.createdAt.padEnd(25)} ${s.name}`);
  const more = nextCursor ? '(more streams exist: use --json for the cursor)\n' : '';
  return `${'STREAM ID'.padEnd(22)} ${'STATUS'.padEnd(8)} ${'CREATED'.padEnd(25)} NAME\n${rows.join('\n')}\n${more}`;
}

function formatRecordings({ items }: { items: RecordingView[] }): string {
  if (items.length === 0) return 'No recordings.\n';
  return `${items
    .map((r) => `${r.broadcastId.padEnd(22)} ${(r.status ?? '').padEnd(10)} ${String(r.durationSeconds ?? '?').padStart(8)} s  ${r.playback.hls}`)
    .join('\n')}\n`;
}

interface CredentialView {
  streamId: string;
  expiresAt: string;
  cookies: { name: string; value: string; path: string }[];
  playback: { hls: string; flv: string; rtmp: string; kcp: string };
}

function formatCredential(c: CredentialView): string {
  return [
    `Playback credential for ${c.streamId}, valid until ${c.expiresAt}`,
    `  HLS:  ${c.playback.hls}`,
    `        with these cookies, set by the app for the HLS domain (add Domain, Secure, HttpOnly, SameSite as fits):`,
    ...c.cookies.map((k) => `        Set-Cookie: ${k.name}=${k.value}; Path=${k.path}`),
    `  FLV:  ${c.playback.flv}`,
    `  RTMP: ${c.playback.rtmp}`,
    `  KCP:  ${c.playback.kcp}`,
    '',
  ].join('\n');
}

interface CommandOptions {
  private: boolean;
  expires?: string;
  'viewer-ip'?: string;
}

interface Action {
  /** The positional argument the command takes, if any. */
  needsArg: 'name' | 'streamId' | false;
  method: string;
  path: (arg: string) => string;
  body?: (arg: string, options: CommandOptions) => unknown;
  format: (body: never) => string;
}

const ACTIONS: Record<string, Action> = {
  create: {
    needsArg: 'name', method: 'POST', path: () => '/streams',
    body: (name, options) => ({ name, ...(options.private ? { private: true } : {}) }), format: formatStream,
  },
  list: { needsArg: false, method: 'GET', path: () => '/streams?limit=100', format: formatStreamList },
  show: { needsArg: 'streamId', method: 'GET', path: (id) => `/streams/${encodeURIComponent(id)}`, format: formatStream },
  rotate: { needsArg: 'streamId', method: 'POST', path: (id) => `/streams/${encodeURIComponent(id)}/rotate`, format: formatStream },
  revoke: { needsArg: 'streamId', method: 'DELETE', path: (id) => `/streams/${encodeURIComponent(id)}`, format: formatStream },
  recordings: {
    needsArg: 'streamId',
    method: 'GET',
    path: (id) => `/streams/${encodeURIComponent(id)}/recordings?limit=100`,
    format: formatRecordings,
  },
  playback: {
    needsArg: 'streamId',
    method: 'POST',
    path: (id) => `/streams/${encodeURIComponent(id)}/playback`,
    body: (_id, options) => ({
      ...(options.expires !== undefined ? { expiresInSeconds: Number(options.expires) } : {}),
      ...(options['viewer-ip'] !== undefined ? { viewerIp: options['viewer-ip'] } : {}),
    }),
    format: formatCredential,
  },
};

function describeFailure(response: ApiResponse): string {
  const error = (response.body as Partial<ApiErrorBody> | undefined)?.error;
  return error?.message ? `error ${response.status} (${error.code}): ${error.message}\n` : `error ${response.status}: ${JSON.stringify(response.body)}\n`;
}

/**
 * Where `bridgecast serve`, started with the same environment, serves the
 * API: HTTP_PORT (invalid values are left to serve to refuse), on HOST
 * unless that is a wildcard address.
 */
export function localApiUrl(env: NodeJS.ProcessEnv): string {
  const host = !env.HOST || env.HOST === '0.0.0.0' || env.HOST === '::' ? '127.0.0.1' : env.HOST;
  const port = /^\d{1,5}$/.test(env.HTTP_PORT ?? '') ? env.HTTP_PORT : '8080';
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}/api`;
}

/** Runs `bridgecast keys ...`; returns the exit code (0 ok, 1 API or network error, 2 usage). */
export async function runKeysCommand(argv: string[], output: CommandOutput = processOutput, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        api: { type: 'string', default: localApiUrl(env) },
        token: { type: 'string' },
        region: { type: 'string' },
        sigv4: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        private: { type: 'boolean', default: false },
        expires: { type: 'string' },
        'viewer-ip': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    output.stderr(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, arg, ...extra] = positionals;
  if (values.help || command === undefined || command === 'help') {
    output.stdout(USAGE);
    return values.help || command === 'help' ? 0 : 2;
  }
  const action = ACTIONS[command];
  if (!action || (action.needsArg !== false && arg === undefined) || extra.length > 0 || (action.needsArg === false && arg !== undefined)) {
    output.stderr(action ? `usage: bridgecast keys ${command}${action.needsArg ? ` <${action.needsArg}>` : ''}\n` : `unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }

  let send: ApiRequester;
  try {
    send = createApiClient({
      apiUrl: values.api,
      token: values.token ?? env.API_TOKEN,
      forceSigV4: values.sigv4,
      region: values.region ?? env.AWS_REGION,
    });
  } catch (err) {
    output.stderr(`${(err as Error).message}\n`);
    return 2;
  }
  let response: ApiResponse;
  try {
    response = await send(action.method, action.path(arg ?? ''), action.body?.(arg ?? '', values));
  } catch (err) {
    const cause = (err as Error & { cause?: Error }).cause; // fetch hides the reason (ECONNREFUSED...) here
    output.stderr(`cannot reach the stream-keys API at ${values.api}: ${cause?.message ?? (err as Error).message}` +
      ` (is \`bridgecast serve\` running with the same HTTP_PORT? or pass --api)\n`);
    return 1;
  }
  if (response.status >= 400) {
    output.stderr(describeFailure(response));
    return 1;
  }
  let text: string;
  try {
    text = values.json ? `${JSON.stringify(response.body, null, 2)}\n` : action.format(response.body as never);
  } catch {
    // Something between us and the API answered (a proxy page, a wrong --api URL).
    output.stderr(`unexpected response from ${values.api} (is --api the stream-keys API?): ${JSON.stringify(response.body).slice(0, 200)}\n`);
    return 1;
  }
  output.stdout(text);
  return 0;
}
