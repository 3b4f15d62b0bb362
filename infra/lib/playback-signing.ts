import { readFileSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import { CfnOutput, RemovalPolicy } from 'aws-cdk-lib';
import { KeyGroup, PublicKey } from 'aws-cdk-lib/aws-cloudfront';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

export interface PlaybackSigningProps {
  /** PEM files of the public keys to trust (one; two while a rotation is under way). */
  publicKeyFiles: string[];
}

/**
 * What signs and checks private streams' playback credentials: CloudFront
 * public keys (from PEM files the operator generated) in a key group that
 * every CloudFront behaviour trusts, and a Secrets Manager secret where the
 * operator puts the matching private key (PEM), read only by the keys API.
 * The media tasks get the public keys only (PLAYBACK_PUBLIC_KEYS), to check
 * play tokens the same way. Rotation without downtime (docs/deploy.md): add
 * the new public key next to the old, deploy, put the new private key in the
 * secret, wait out the longest credential, remove the old public key.
 * https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-trusted-signers.html
 */
export class PlaybackSigning extends Construct {
  readonly keyGroup: KeyGroup;
  readonly signingKey: Secret;
  /** `{"<public key id>": "<PEM>", ...}` with CloudFront's ids resolved at deploy time. */
  readonly publicKeysJson: string;

  constructor(scope: Construct, id: string, props: PlaybackSigningProps) {
    super(scope, id);
    const keys = props.publicKeyFiles.map((file, i) => {
      const pem = readPublicKeyPem(file);
      return { pem, key: new PublicKey(this, `Key${i + 1}`, { encodedKey: pem, comment: `Bridgecast playback key ${i + 1}` }) };
    });
    this.keyGroup = new KeyGroup(this, 'KeyGroup', { items: keys.map((k) => k.key), comment: 'Bridgecast private playback' });
    this.signingKey = new Secret(this, 'SigningKey', {
      description: 'Bridgecast playback signing key: the PEM private key matching a public key of the key group (put it with aws secretsmanager put-secret-value)',
      // Losing it breaks every credential in circulation; a replaced stack must not take it along.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.publicKeysJson = `{${keys.map((k) => `"${k.key.publicKeyId}":${JSON.stringify(k.pem)}`).join(',')}}`;
    new CfnOutput(scope, 'PlaybackSigningSecret', { value: this.signingKey.secretArn, description: 'Put the playback private key (PEM) here' });
    new CfnOutput(scope, 'PlaybackKeyGroupId', { value: this.keyGroup.keyGroupId });
  }
}

/** Reads and checks a public key file: RSA 2048 in PEM, what CloudFront takes and our RSA-SHA1 signing uses. */
export function readPublicKeyPem(file: string): string {
  const pem = readFileSync(file, 'utf8').trim();
  let key;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new Error(`playbackPublicKeys: ${file} is not a PEM public key (openssl rsa -pubout -in private.pem -out public.pem)`);
  }
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType !== 'rsa' || details?.modulusLength !== 2048) {
    throw new Error(`playbackPublicKeys: ${file} must be an RSA 2048 public key (openssl genrsa -out private.pem 2048)`);
  }
  return `${pem}\n`;
}
