/**
 * Which AWS partition a region belongs to. The China regions (cn-north-1,
 * cn-northwest-1) are the aws-cn partition: separate accounts and
 * credentials, ARNs beginning arn:aws-cn:, and no AWS network or
 * cross-partition reference between them and the aws regions.
 * https://docs.amazonaws.cn/en_us/aws/latest/userguide/accounts-and-credentials.html
 */
export type Partition = 'aws' | 'aws-cn';

export function partitionOf(region: string): Partition {
  return region.startsWith('cn-') ? 'aws-cn' : 'aws';
}

export function isChinaRegion(region: string): boolean {
  return partitionOf(region) === 'aws-cn';
}
