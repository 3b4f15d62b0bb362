import { Stack, type StackProps } from 'aws-cdk-lib';
import { FlowLogDestination, FlowLogTrafficType, GatewayVpcEndpointAwsService, SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';

/**
 * Zones used when none are given: two that exist in every account of the
 * region (zone names map per account; these regions' a and b, Seoul's a and
 * c, are present in all). Other regions need `availabilityZones`.
 */
export const DEFAULT_AVAILABILITY_ZONES: Record<string, string[]> = {
  'ap-northeast-2': ['ap-northeast-2a', 'ap-northeast-2c'],
  'ap-east-1': ['ap-east-1a', 'ap-east-1b'],
  'cn-northwest-1': ['cn-northwest-1a', 'cn-northwest-1b'],
  'cn-north-1': ['cn-north-1a', 'cn-north-1b'],
};

export interface SiteStackProps extends StackProps {
  /**
   * Availability zones of the VPC. Explicit so that synthesis with an account
   * (as `cdk deploy` runs it) needs no lookup; [] looks them up with the
   * deploying credentials (the CLI stores the answer in cdk.context.json);
   * undefined takes DEFAULT_AVAILABILITY_ZONES.
   */
  availabilityZones?: string[];
  natGateways: number;
}

/**
 * A stack holding one media site (the origin, or an edge): its network is
 * the same everywhere, a VPC over two zones with public subnets for the NLB
 * and private ones for the tasks.
 */
export class SiteStack extends Stack {
  readonly vpc: Vpc;
  /** Zones given or defaulted (no lookup); undefined: looked up with the deploying credentials. */
  private readonly explicitZones: string[] | undefined;

  /**
   * The Vpc checks given zones against the stack's, which with an account set
   * is a lookup needing credentials; explicit zones answer it without one.
   */
  override get availabilityZones(): string[] {
    return this.explicitZones ?? super.availabilityZones;
  }

  constructor(scope: Construct, id: string, props: SiteStackProps) {
    super(scope, id, props);
    const zones = props.availabilityZones;
    this.explicitZones = zones === undefined ? DEFAULT_AVAILABILITY_ZONES[this.region] : zones.length > 0 ? zones : undefined;
    this.vpc = new Vpc(this, 'Vpc', {
      ...(this.explicitZones ? { availabilityZones: this.explicitZones } : { maxAzs: 2 }),
      natGateways: props.natGateways,
      subnetConfiguration: [
        { name: 'public', subnetType: SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'tasks', subnetType: SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
      ],
      // HLS uploads and stream-key lookups stay off the NAT gateway (its data
      // charge would be ~USD 0.21 per 4 Mbit/s streaming hour); gateway
      // endpoints cost nothing.
      gatewayEndpoints: {
        S3: { service: GatewayVpcEndpointAwsService.S3 },
        DynamoDB: { service: GatewayVpcEndpointAwsService.DYNAMODB },
      },
      flowLogs: { rejected: { destination: FlowLogDestination.toCloudWatchLogs(), trafficType: FlowLogTrafficType.REJECT } },
    });
  }
}
