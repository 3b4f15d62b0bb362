// The watch page: plays /live/<stream> with hls.js (HLS) or mpegts.js (HTTP-FLV)
// and shows latency and bit rate. `?player=hls|flv` picks the player; a
// `?token=` (signed play token) is passed on to the server: on the FLV URL,
// and on the HLS playlist URL, whose segment URIs the server then writes
// with the token (relative URIs do not inherit the playlist's query).
'use strict';
const streamName = decodeURIComponent(location.pathname.split('/').pop());
const params = new URLSearchParams(location.search);
const playerKind = params.get('player') === 'flv' ? 'flv' : 'hls';
const tokenQuery = params.has('token') ? `?token=${encodeURIComponent(params.get('token'))}` : '';
const video = document.getElementById('video');
const show = (id, text) => { document.getElementById(id).textContent = text; };

document.getElementById('title').textContent = streamName;
for (const input of document.querySelectorAll('input[name=player]')) {
  input.checked = input.value === playerKind;
  input.addEventListener('change', () => {
    params.set('player', input.value);
    location.search = params.toString();
  });
}

// Bit rate over the last few seconds from the bytes the player downloaded.
const samples = [];
function addBytes(bytes) {
  samples.push({ at: performance.now(), bytes });
}
function bitrateKbps() {
  const now = performance.now();
  while (samples.length > 0 && now - samples[0].at > 5000) samples.shift();
  const bytes = samples.reduce((sum, s) => sum + s.bytes, 0);
  return Math.round((bytes * 8) / 5 / 1000);
}

let latencySeconds = () => NaN;

if (playerKind === 'hls') {
  show('player-name', `hls.js ${Hls.version}`);
  const url = `/live/${encodeURIComponent(streamName)}/index.m3u8${tokenQuery}`;
  if (Hls.isSupported()) {
    const hls = new Hls({ liveSyncDurationCount: 2, manifestLoadingMaxRetry: 30, levelLoadingMaxRetry: 30 });
    hls.on(Hls.Events.FRAG_LOADED, (_event, data) => addBytes(data.frag.stats.total));
    hls.on(Hls.Events.ERROR, (_event, data) => { if (data.fatal) show('state', `error: ${data.details}`); });
    hls.loadSource(url);
    hls.attachMedia(video);
    latencySeconds = () => hls.latency;
  } else {
    video.src = url; // Safari plays HLS natively
  }
} else {
  show('player-name', `mpegts.js ${mpegts.version}`);
  const player = mpegts.createPlayer(
    { type: 'flv', isLive: true, url: `/live/${encodeURIComponent(streamName)}.flv${tokenQuery}` },
    { enableStashBuffer: false, liveBufferLatencyChasing: true, liveBufferLatencyMaxLatency: 1.5, liveBufferLatencyMinRemain: 0.3 },
  );
  let lastBytes = 0;
  player.on(mpegts.Events.STATISTICS_INFO, (info) => {
    if (typeof info.totalBytes === 'number') {
      addBytes(info.totalBytes - lastBytes);
      lastBytes = info.totalBytes;
    }
  });
  player.on(mpegts.Events.ERROR, (type, detail) => show('state', `error: ${type} ${detail}`));
  player.attachMediaElement(video);
  player.load();
  latencySeconds = () => (video.buffered.length > 0 ? video.buffered.end(video.buffered.length - 1) - video.currentTime : NaN);
}

video.play().catch(() => {}); // autoplay of muted video is allowed; a click on the video also starts it
setInterval(() => {
  const latency = latencySeconds();
  show('latency', Number.isFinite(latency) ? `${latency.toFixed(2)} s` : '–');
  show('bitrate', `${bitrateKbps()} kbit/s`);
  show('state', video.paused ? 'paused' : video.readyState >= 3 ? `playing (${video.currentTime.toFixed(1)} s)` : 'buffering');
}, 500);
