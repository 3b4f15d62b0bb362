import path from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { REPO_ROOT } from './paths.js';

export interface BridgecastFunctionProps {
  /** Folder under lambdas/ whose src/index.ts exports `handler`. */
  lambda: string;
  description: string;
  environment: Record<string, string>;
  timeout?: Duration;
  memorySize?: number;
}

/** Node.js 24: the newest Lambda runtime, supported until 2028-04-30 (the media image runs Node 24 too). */
export const LAMBDA_RUNTIME = Runtime.NODEJS_24_X;

/**
 * A Lambda of ours: bundled by the locally installed esbuild (no Docker at
 * synth), Node.js 24 on ARM, its own log group with a retention. The AWS SDK
 * is bundled at the version package-lock.json pins (the one the tests run)
 * rather than taken from the runtime, whose copy changes under us.
 */
export function bridgecastFunction(scope: Construct, id: string, props: BridgecastFunctionProps): NodejsFunction {
  const logGroup = new LogGroup(scope, `${id}Logs`, { retention: RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
  return new NodejsFunction(scope, id, {
    entry: path.join(REPO_ROOT, 'lambdas', props.lambda, 'src/index.ts'),
    handler: 'handler',
    runtime: LAMBDA_RUNTIME,
    architecture: Architecture.ARM_64,
    description: props.description,
    environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
    timeout: props.timeout ?? Duration.seconds(30),
    memorySize: props.memorySize ?? 256,
    logGroup,
    depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
    projectRoot: REPO_ROOT,
    bundling: {
      externalModules: [],
      bundleAwsSDK: true,
      forceDockerBundling: false,
      target: 'node24',
      sourceMap: true,
    },
  });
}
