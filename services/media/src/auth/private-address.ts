/**
 * True for loopback and private-network addresses (RFC 1918, IPv6 unique
 * local fc00::/7), in plain or IPv4-mapped form: who may read /metrics. In
 * AWS the NLB preserves client addresses, so internet clients keep their
 * public one, while a Prometheus sidecar or a CloudWatch agent scrapes from
 * the task itself or the VPC.
 */
export function isPrivateAddress(address: string | undefined): boolean {
  if (!address) return false;
  const ip = address.toLowerCase().replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
  const v4 = /^(\d+)\.(\d+)\.\d+\.\d+$/.exec(ip);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
  }
  return ip === '::1' || /^f[cd][0-9a-f]{0,2}:/.test(ip);
}
