import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFecSetting } from '@bridgecast/media/kcp-config.js';

// Moved from kcp-ts's FEC tests: reading KCP_FEC is the media service's configuration, not the library's.
describe('KCP configuration of the media service', () => {
  it('parses KCP_FEC', () => {
    assert.deepEqual(parseFecSetting('10,3'), { dataShards: 10, parityShards: 3 });
    assert.equal(parseFecSetting(undefined), null);
    assert.equal(parseFecSetting('off'), null);
    assert.throws(() => parseFecSetting('10'), /KCP_FEC/);
  });
});
