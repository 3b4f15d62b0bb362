import { createPrivateKey } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import pino from 'pino';
import { createStreamKeysHandler } from './handler.js';
import { parsePublicKeys, signerFor, type PlaybackSigner } from './playback-credentials.js';
import { StreamKeyStore } from './store.js';
import { kcpFecUrlValue } from './urls.js';

/**
 * Lambda entry: the stream-keys API behind API Gateway (HTTP API, payload
 * v2). Env: STREAMS_TABLE, INGEST_HOST, HLS_BASE_URL, FLV_BASE_URL; optional
 * RTMP_PORT / KCP_PORT (1935), KCP_FEC (the KCP port's FEC, e.g. 10,3: put in
 * every kcp:// URL), RTMPS_PORT (when the NLB offers RTMPS),
 * BASE_PATH when a custom domain maps the API under a path, and for private
 * playback PLAYBACK_SIGNING_SECRET_ARN (the PEM private key in Secrets
 * Manager) with PLAYBACK_PUBLIC_KEYS (the key group's keys, by id).
 */
function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set`);
  return value;
}

/** How long a fetched signing key is used before Secrets Manager is asked again: a rotation takes effect within this. */
const SIGNER_CACHE_MS = 5 * 60_000;

/**
 * The signing key, from Secrets Manager, cached. Its Key-Pair-Id is found
 * by matching it against the key group's public keys, so a rotation is:
 * add the new public key to the group, then put the new private key in the
 * secret (docs/deploy.md).
 */
function secretSigner(secretArn: string | undefined, publicKeysJson: string | undefined): () => Promise<PlaybackSigner | undefined> {
  if (!secretArn || !publicKeysJson) return async () => undefined;
  const publicKeys = parsePublicKeys(publicKeysJson);
  const secrets = new SecretsManagerClient({});
  let cached: { signer: Promise<PlaybackSigner>; at: number } | undefined;
  return async () => {
    if (!cached || Date.now() - cached.at > SIGNER_CACHE_MS) {
      const signer = secrets.send(new GetSecretValueCommand({ SecretId: secretArn }))
        .then(({ SecretString }) => signerFor(pemPrivateKey(SecretString), publicKeys));
      cached = { signer, at: Date.now() };
      signer.catch(() => { cached = undefined; }); // a failure is retried on the next request, not cached
    }
    return cached.signer;
  };
}

function pemPrivateKey(secret: string | undefined) {
  try {
    return createPrivateKey(secret ?? '');
  } catch {
    // The stack creates the secret with a placeholder: the operator puts the key in after the first deploy.
    throw new Error('the playback signing secret holds no PEM private key yet; put it in (docs/deploy.md, "Private playback")');
  }
}

const client = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });

export const handler = createStreamKeysHandler({
  store: new StreamKeyStore(client, requiredEnv('STREAMS_TABLE')),
  urls: {
    ingestHost: requiredEnv('INGEST_HOST'),
    rtmpPort: Number(process.env.RTMP_PORT || 1935),
    kcpPort: Number(process.env.KCP_PORT || 1935),
    hlsBaseUrl: requiredEnv('HLS_BASE_URL'),
    flvBaseUrl: requiredEnv('FLV_BASE_URL'),
    ...(process.env.RTMPS_PORT ? { rtmpsPort: Number(process.env.RTMPS_PORT) } : {}),
    ...(kcpFecUrlValue(process.env.KCP_FEC) ? { kcpFec: kcpFecUrlValue(process.env.KCP_FEC)! } : {}),
  },
  playbackSigner: secretSigner(process.env.PLAYBACK_SIGNING_SECRET_ARN, process.env.PLAYBACK_PUBLIC_KEYS),
  logger: pino({ level: process.env.LOG_LEVEL ?? 'info', base: { service: 'bridgecast-stream-keys' } }),
  basePath: process.env.BASE_PATH ?? '',
});
