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

  it('runs the congestion controller and a 600 ms live deadline by default; KCP_CC=none and KCP_LIVE_DEADLINE_MS=0 turn them off', () => {
    const defaults = loadKcpSettings({});
    assert.equal(defaults.tuning.congestionControl, 'live');
    assert.equal(defaults.liveDeadlineMs, 600);
    const off = loadKcpSettings({ KCP_CC: 'none', KCP_LIVE_DEADLINE_MS: '0' });
    assert.equal(off.tuning.congestionControl, 'none');
    assert.equal(off.liveDeadlineMs, 0);
    assert.equal(loadKcpSettings({ KCP_LIVE_DEADLINE_MS: '400' }).liveDeadlineMs, 400);
    assert.equal(loadKcpSettings({ KCP_CC: 'off' }).tuning.congestionControl, 'none');
    assert.throws(() => loadKcpSettings({ KCP_CC: 'bbr' }), /KCP_CC/);
    assert.throws(() => loadKcpSettings({ KCP_LIVE_DEADLINE_MS: '-1' }), /KCP_LIVE_DEADLINE_MS/);
  });

  it('asks for 4 MiB UDP socket buffers unless KCP_SOCKET_BUFFER_BYTES says otherwise (0: the kernel default)', () => {
    assert.equal(loadKcpSettings({}).socketBufferBytes, 4 * 1024 * 1024);
    assert.equal(loadKcpSettings({ KCP_SOCKET_BUFFER_BYTES: '0' }).socketBufferBytes, 0);
    assert.throws(() => loadKcpSettings({ KCP_SOCKET_BUFFER_BYTES: '-5' }), /KCP_SOCKET_BUFFER_BYTES/);
  });
});
