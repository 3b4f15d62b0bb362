import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadKcpSettings, parseFecSetting } from '@bridgecast/media/kcp-config.js';

// Moved from kcp-ts's FEC tests: reading KCP_FEC is the media service's configuration, not the library's.
describe('KCP configuration of the media service', () => {
  it('parses KCP_FEC', () => {
    assert.deepEqual(parseFecSetting('10,3'), { dataShards: 10, parityShards: 3 });
    assert.equal(parseFecSetting(undefined), null);
    assert.equal(parseFecSetting('off'), null);
    assert.throws(() => parseFecSetting('10'), /KCP_FEC/);
  });

  it('leaves the congestion controller and the live deadline off by default (not yet at their targets); KCP_CC=live and KCP_LIVE_DEADLINE_MS turn them on', () => {
    const defaults = loadKcpSettings({});
    assert.equal(defaults.tuning.congestionControl, 'none');
    assert.equal(defaults.liveDeadlineMs, 0);
    const on = loadKcpSettings({ KCP_CC: 'live', KCP_LIVE_DEADLINE_MS: '400' });
    assert.equal(on.tuning.congestionControl, 'live');
    assert.equal(on.liveDeadlineMs, 400);
    assert.equal(loadKcpSettings({ KCP_CC: 'off' }).tuning.congestionControl, 'none');
    assert.throws(() => loadKcpSettings({ KCP_CC: 'bbr' }), /KCP_CC/);
    assert.throws(() => loadKcpSettings({ KCP_LIVE_DEADLINE_MS: '-1' }), /KCP_LIVE_DEADLINE_MS/);
  });
});
