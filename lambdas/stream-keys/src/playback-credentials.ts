import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import net from 'node:net';

/**
 * Playback credentials for private streams, in CloudFront's own format so
 * one credential works at the CDN and at the media tasks:
 *
 * - a custom policy (JSON, whitespace-free, exactly one statement: CloudFront
 *   accepts only one) with a Resource URL pattern (`*` any characters, `?`
 *   one), DateLessThan and optionally IpAddress;
 * - signed with RSA-SHA1 by the private key of a CloudFront public key, whose
 *   id (Key-Pair-Id) names the key in the distribution's trusted key group;
 * - policy and signature in CloudFront's URL-safe base64 (`+` → `-`,
 *   `=` → `_`, `/` → `~`).
 *
 * https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-setting-signed-cookie-custom-policy.html
 *
 * For HLS the app's backend sets the three `CloudFront-*` cookies; because
 * a policy holds one statement, a viewer gets two cookie sets, one scoped by
 * Path to the stream's live window and one to its recordings. For HTTP-FLV,
 * RTMP and KCP (served by the tasks, not CloudFront) the same three parts
 * travel as one `?token=<policy>.<signature>.<keyPairId>` over the
 * resource `stream:<app>/<stream id>`. Verifiers need only public keys.
 */

export interface PlaybackSigner {
  /** The CloudFront public key id of the key pair (the Key-Pair-Id). */
  keyPairId: string;
  privateKey: KeyObject;
}

/** Public keys by Key-Pair-Id: every key of the trusted key group (two while a rotation is under way). */
export type PlaybackVerifier = ReadonlyMap<string, KeyObject>;

export interface PolicyConditions {
  /** Unix seconds; the credential is refused from this second on. */
  expiresAt: number;
  /** The viewer's address (CIDR or a bare IPv4/IPv6 address, taken as /32 or /128). */
  viewerIp?: string;
}

/** The three name-value pairs CloudFront reads, as cookies or query parameters. */
export interface SignedPolicy {
  policy: string;
  signature: string;
  keyPairId: string;
}

export function toCloudFrontBase64(bytes: Buffer): string {
  return bytes.toString('base64').replace(/\+/g, '-').replace(/=/g, '_').replace(/\//g, '~');
}

export function fromCloudFrontBase64(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9\-_~]*$/.test(text)) return undefined;
  return Buffer.from(text.replace(/-/g, '+').replace(/_/g, '=').replace(/~/g, '/'), 'base64');
}

/** `1.2.3.4` → `1.2.3.4/32`; a valid CIDR as is; anything else throws. */
export function normalizeViewerIp(ip: string): string {
  const [address = '', bits, ...rest] = ip.split('/');
  const family = net.isIP(address);
  const max = family === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  if (!family || rest.length > 0 || !/^\d{1,3}$/.test(String(prefix)) || prefix > max) throw new Error('viewerIp must be an IPv4 or IPv6 address or CIDR');
  return `${address}/${prefix}`;
}

/** The policy JSON, whitespace removed, in the member order of CloudFront's examples. */
export function policyJson(resource: string, conditions: PolicyConditions): string {
  const condition: Record<string, unknown> = { DateLessThan: { 'AWS:EpochTime': conditions.expiresAt } };
  if (conditions.viewerIp !== undefined) condition.IpAddress = { 'AWS:SourceIp': normalizeViewerIp(conditions.viewerIp) };
  return JSON.stringify({ Statement: [{ Resource: resource, Condition: condition }] });
}

export function signPolicy(signer: PlaybackSigner, resource: string, conditions: PolicyConditions): SignedPolicy {
  const json = Buffer.from(policyJson(resource, conditions));
  return {
    policy: toCloudFrontBase64(json),
    signature: toCloudFrontBase64(sign('sha1', json, signer.privateKey)),
    keyPairId: signer.keyPairId,
  };
}

/** CloudFront's Resource pattern: `*` matches any run of characters, `?` exactly one; everything else literally. */
export function resourceMatches(pattern: string, url: string): boolean {
  const regex = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${regex}$`, 's').test(url);
}

function ipv4ToBigInt(ip: string): bigint {
  return ip.split('.').reduce((n, part) => (n << 8n) | BigInt(Number(part)), 0n);
}

function ipv6ToBigInt(ip: string): bigint {
  const [head = '', tail] = ip.split('::');
  const parse = (s: string) => (s ? s.split(':') : []);
  const groups = tail === undefined ? parse(head) : [...parse(head), ...Array<string>(8 - parse(head).length - parse(tail).length).fill('0'), ...parse(tail)];
  return groups.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** Whether `address` (as a socket reports it, IPv4-mapped IPv6 included) lies in `cidr`. */
export function addressInCidr(address: string, cidr: string): boolean {
  const [range = '', bitsText = ''] = cidr.split('/');
  const bits = Number(bitsText);
  const plain = address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  const family = net.isIP(plain);
  if (!family || family !== net.isIP(range)) return false;
  const width = family === 4 ? 32 : 128;
  const toInt = family === 4 ? ipv4ToBigInt : ipv6ToBigInt;
  const shift = BigInt(width - bits);
  return toInt(plain) >> shift === toInt(range) >> shift;
}

export type RefusalReason = 'missing' | 'malformed' | 'unknown_key' | 'bad_signature' | 'expired' | 'not_yet_valid' | 'wrong_resource' | 'wrong_address';

export type VerifyResult = { ok: true } | { ok: false; reason: RefusalReason };

const refuse = (reason: RefusalReason): VerifyResult => ({ ok: false, reason });

/**
 * Checks a signed policy as CloudFront does for a request of `url` from
 * `remoteAddress` at `nowSeconds`: the signature by a key of the group, then
 * the one statement's Resource, DateLessThan, DateGreaterThan and IpAddress.
 * Anything unexpected in the policy is refused rather than ignored.
 */
export function verifySignedPolicy(verifier: PlaybackVerifier, parts: Partial<SignedPolicy>, url: string, remoteAddress: string, nowSeconds = Date.now() / 1000): VerifyResult {
  if (!parts.policy || !parts.signature || !parts.keyPairId) return refuse('missing');
  const json = fromCloudFrontBase64(parts.policy);
  const signature = fromCloudFrontBase64(parts.signature);
  if (!json || !signature || json.length > 2048) return refuse('malformed');
  const key = verifier.get(parts.keyPairId);
  if (!key) return refuse('unknown_key');
  if (!verify('sha1', json, key, signature)) return refuse('bad_signature');
  let statement: { Resource?: unknown; Condition?: Record<string, Record<string, unknown>> };
  try {
    const parsed = JSON.parse(json.toString('utf8')) as { Statement?: unknown };
    if (!Array.isArray(parsed.Statement) || parsed.Statement.length !== 1) return refuse('malformed');
    statement = parsed.Statement[0] as typeof statement;
  } catch {
    return refuse('malformed');
  }
  const { Resource: resource, Condition: condition } = statement;
  if (typeof resource !== 'string' || typeof condition !== 'object' || condition === null) return refuse('malformed');
  const known = new Set(['DateLessThan', 'DateGreaterThan', 'IpAddress']);
  if (Object.keys(condition).some((k) => !known.has(k))) return refuse('malformed');
  const expiresAt = condition.DateLessThan?.['AWS:EpochTime'];
  if (typeof expiresAt !== 'number') return refuse('malformed');
  if (nowSeconds >= expiresAt) return refuse('expired');
  const startsAt = condition.DateGreaterThan?.['AWS:EpochTime'];
  if (startsAt !== undefined && (typeof startsAt !== 'number' || nowSeconds <= startsAt)) return refuse('not_yet_valid');
  if (!resourceMatches(resource, url)) return refuse('wrong_resource');
  const sourceIp = condition.IpAddress?.['AWS:SourceIp'];
  if (sourceIp !== undefined) {
    if (typeof sourceIp !== 'string') return refuse('malformed');
    if (!addressInCidr(remoteAddress, sourceIp)) return refuse('wrong_address');
  }
  return { ok: true };
}

// ---- What a viewer's credential covers -------------------------------------

const trimSlash = (url: string) => url.replace(/\/+$/, '');

/** The HLS path prefixes of one stream: its live window and its recordings (and nothing of any other stream). */
export function hlsPathsOf(streamId: string): string[] {
  return [`/live/${streamId}/`, `/recordings/${streamId}/`];
}

/** The resource a play token for RTMP, KCP and HTTP-FLV names: the stream, whatever the protocol. */
export function streamResource(app: string, streamId: string): string {
  return `stream:${app}/${streamId}`;
}

export interface SignedCookie {
  name: 'CloudFront-Policy' | 'CloudFront-Signature' | 'CloudFront-Key-Pair-Id';
  value: string;
  /** The cookie's Path attribute: each policy reaches only the requests it covers. */
  path: string;
}

export interface PlaybackCredential {
  expiresAt: number;
  /** Six cookies: the three CloudFront-* names for the live path and again for the recordings path. */
  cookies: SignedCookie[];
  /** For `?token=` on HTTP-FLV, RTMP and KCP play. */
  token: string;
}

export function issuePlaybackCredential(signer: PlaybackSigner, hlsBaseUrl: string, app: string, streamId: string, conditions: PolicyConditions): PlaybackCredential {
  const cookies = hlsPathsOf(streamId).flatMap((path): SignedCookie[] => {
    const signed = signPolicy(signer, `${trimSlash(hlsBaseUrl)}${path}*`, conditions);
    return [
      { name: 'CloudFront-Policy', value: signed.policy, path },
      { name: 'CloudFront-Signature', value: signed.signature, path },
      { name: 'CloudFront-Key-Pair-Id', value: signed.keyPairId, path },
    ];
  });
  const token = signPolicy(signer, streamResource(app, streamId), conditions);
  return { expiresAt: conditions.expiresAt, cookies, token: `${token.policy}.${token.signature}.${token.keyPairId}` };
}

export function parsePlaybackToken(token: string | null): Partial<SignedPolicy> {
  const [policy, signature, keyPairId, ...rest] = (token ?? '').split('.');
  return rest.length > 0 ? {} : { policy, signature, keyPairId };
}

/** A play token is a three-part signed policy; PLAY_TOKEN_SECRET tokens have two parts. */
export function looksLikePlaybackToken(token: string | null): boolean {
  return token !== null && token.split('.').length === 3;
}

// ---- Keys --------------------------------------------------------------------

/** A short, stable id for a public key (the local server's Key-Pair-Id; CloudFront assigns its own in AWS). */
export function publicKeyFingerprint(key: KeyObject): string {
  return createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

/** Parses `{"<key id>": "<PEM public key>", ...}` (PLAYBACK_PUBLIC_KEYS). */
export function parsePublicKeys(json: string): Map<string, KeyObject> {
  const parsed = JSON.parse(json) as unknown;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('PLAYBACK_PUBLIC_KEYS must be a JSON object of key id to PEM');
  return new Map(Object.entries(parsed as Record<string, unknown>).map(([id, pem]) => {
    if (typeof pem !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new Error('PLAYBACK_PUBLIC_KEYS: each entry is "<key id>": "<PEM>"');
    return [id, createPublicKey(pem)];
  }));
}

/**
 * The signer for a private key: its Key-Pair-Id is the id of the public key
 * in `publicKeys` that matches it. So rotating is putting a new private key
 * in place once its public key is in the group; no id has to be copied.
 */
export function signerFor(privateKey: KeyObject, publicKeys: PlaybackVerifier): PlaybackSigner {
  const fingerprint = publicKeyFingerprint(createPublicKey(privateKey));
  for (const [keyPairId, key] of publicKeys) if (publicKeyFingerprint(key) === fingerprint) return { keyPairId, privateKey };
  throw new Error('the playback signing key matches none of the trusted public keys; add its public key to the key group first');
}
