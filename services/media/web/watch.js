// The watch page: plays /live/<stream> with hls.js (HLS) or mpegts.js
// (HTTP-FLV), shows latency and bit rate, and follows the stream's state
// from /api/live/<stream> (live, offline, ended, not found): the player is
// started when the stream is live, kept while it still has media to show
// after the stream ends, and started again when the stream comes back or
// after a player error. `?player=hls|flv` picks the player; a `?token=`
// (signed play token) is passed on to the server: on the FLV URL, and on
// the HLS playlist URL, whose segment URIs the server then writes with the
// token (relative URIs do not inherit the playlist's query).
'use strict';
const streamName = decodeURIComponent(location.pathname.split('/').pop());
const params = new URLSearchParams(location.search);
const playerKind = params.get('player') === 'flv' ? 'flv' : 'hls';
const tokenQuery = params.has('token') ? `?token=${encodeURIComponent(params.get('token'))}` : '';
const video = document.getElementById('video');
const show = (id, text) => { document.getElementById(id).textContent = text; };
const POLL_MS = 2000;

document.getElementById('title').textContent = streamName;
for (const input of document.querySelectorAll('input[name=player]')) {
  input.checked = input.value === playerKind;
  input.addEventListener('change', () => {
    params.set('player', input.value);
    location.search = params.toString();
  });
}

// Autoplay is allowed only muted; the button gives the sound back.
const unmute = document.getElementById('unmute');
function showMuted() { unmute.textContent = video.muted ? 'Unmute (sound is off)' : 'Mute'; }
unmute.addEventListener('click', () => {
  video.muted = !video.muted;
  if (!video.muted) video.play().catch(() => {});
  showMuted();
});
video.addEventListener('volumechange', showMuted);

// Bit rate over the last few seconds from the bytes the HLS player downloaded.
const samples = [];
function addBytes(bytes) {
  samples.push({ at: performance.now(), bytes });
}
function sampledKbps() {
  const now = performance.now();
  while (samples.length > 0 && now - samples[0].at > 5000) samples.shift();
  return Math.round((samples.reduce((sum, s) => sum + s.bytes, 0) * 8) / 5 / 1000);
}

/** A running player: { destroy(), latencyText(), kbps(), stale? }; null while none runs. */
let player = null;
/** A fatal player error since the player started (cleared by a restart). */
let playerError = null;
/** The stream's state as the server last said it (null before the first answer). */
let serverState = null;
/** Whether this page's player can start: live, and for HLS the playlist lists the broadcast. */
let playable = false;
let serverUnreachable = false;

function startHls() {
  const url = `/live/${encodeURIComponent(streamName)}/index.m3u8${tokenQuery}`;
  show('player-name', `hls.js ${Hls.version}`);
  if (!Hls.isSupported()) {
    video.src = url; // Safari plays HLS natively
    video.play().catch(() => {});
    return { destroy() { video.removeAttribute('src'); video.load(); }, latencyText: () => '–', kbps: () => NaN };
  }
  const hls = new Hls({
    // Two target durations behind the live edge (the HLS default is three), with
    // a little speed-up to catch up after a stall instead of a jump.
    liveSyncDurationCount: 2,
    liveMaxLatencyDurationCount: 5,
    maxLiveSyncPlaybackRate: 1.2,
    backBufferLength: 30,
    // Give up quickly and let the state poll decide: offline, ended, or restart.
    manifestLoadingMaxRetry: 2,
    levelLoadingMaxRetry: 4,
  });
  hls.on(Hls.Events.FRAG_LOADED, (_event, data) => addBytes(data.frag.stats.total));
  // Just after a stream comes back, the playlist may still be the ended
  // broadcast's (EXT-X-ENDLIST) until the new broadcast's first segment is
  // written: replaying that would show the old broadcast. Stop, and let the
  // next poll start again.
  let stale = false;
  hls.on(Hls.Events.LEVEL_LOADED, (_event, data) => {
    if (!data.details.live && serverState === 'live' && !stale) {
      stale = true;
      hls.stopLoad();
    }
  });
  hls.on(Hls.Events.ERROR, (_event, data) => { if (data.fatal) { playerError = data.details; render(); } });
  hls.loadSource(url);
  hls.attachMedia(video);
  video.play().catch(() => {});
  return {
    destroy() { hls.destroy(); },
    get stale() { return stale; },
    latencyText() {
      // EXT-X-PROGRAM-DATE-TIME is when the server received the segment: this is the real delay to the picture, minus the encoder's.
      const date = hls.playingDate;
      const behindRealTime = date ? (Date.now() - date.getTime()) / 1000 : NaN;
      const behindEdge = hls.latency;
      if (!Number.isFinite(behindRealTime)) return Number.isFinite(behindEdge) ? `${behindEdge.toFixed(2)} s behind the live edge` : '–';
      return `${behindRealTime.toFixed(2)} s behind real time (${behindEdge.toFixed(2)} s behind the live edge)`;
    },
    kbps: sampledKbps,
  };
}

function startFlv() {
  show('player-name', `mpegts.js ${mpegts.version}`);
  const flv = mpegts.createPlayer(
    { type: 'flv', isLive: true, url: `/live/${encodeURIComponent(streamName)}.flv${tokenQuery}` },
    { enableStashBuffer: false, liveBufferLatencyChasing: true, liveBufferLatencyMaxLatency: 0.6, liveBufferLatencyMinRemain: 0.2 },
  );
  let kbps = NaN;
  // `speed` is the download rate over the last second in KiB/s.
  flv.on(mpegts.Events.STATISTICS_INFO, (info) => { if (typeof info.speed === 'number') kbps = Math.round(info.speed * 8.192); });
  flv.on(mpegts.Events.ERROR, (type, detail) => { playerError = `${type} ${detail}`; render(); });
  flv.attachMediaElement(video);
  flv.load();
  video.play().catch(() => {});
  return {
    destroy() { flv.pause(); flv.unload(); flv.detachMediaElement(); flv.destroy(); },
    latencyText() {
      const ahead = video.buffered.length > 0 ? video.buffered.end(video.buffered.length - 1) - video.currentTime : NaN;
      return Number.isFinite(ahead) ? `${ahead.toFixed(2)} s buffered` : '–';
    },
    kbps: () => kbps,
  };
}

function startPlayer() {
  stopPlayer();
  playerError = null;
  player = playerKind === 'hls' ? startHls() : startFlv();
}

function stopPlayer() {
  if (!player) return;
  player.destroy();
  player = null;
  samples.length = 0;
  showStats();
}

function showStats() {
  show('latency', player ? player.latencyText() : '–');
  const kbps = player ? player.kbps() : NaN;
  show('bitrate', Number.isFinite(kbps) ? `${kbps} kbit/s` : '–');
}

/** Media left to show: a player is kept after the stream ends until it has played what it holds. */
function hasMediaAhead() {
  if (video.ended || video.buffered.length === 0) return false;
  return video.buffered.end(video.buffered.length - 1) - video.currentTime > 0.3;
}

const MESSAGES = {
  connecting: 'connecting…',
  live: 'live',
  offline: 'Offline: this stream is not live right now. It starts playing here by itself when it goes live.',
  ended: 'Ended: the broadcast has ended. If it comes back, it starts playing here by itself.',
  not_found: 'Not found: there is no stream with this id on this server. Check the link.',
};

/** What the page shows: the player's picture while it has one, else why not. */
function render() {
  let state;
  let text;
  if (serverUnreachable) {
    state = 'error';
    text = 'Error: the server cannot be reached; retrying.';
  } else if (playerError && serverState === 'live') {
    state = 'error';
    text = `Error: the player failed (${playerError}); retrying.`;
  } else if (player && (serverState === 'live' || hasMediaAhead())) {
    state = 'live';
    text = serverState === 'live' ? 'live' : `live (the stream has ${serverState === 'ended' ? 'ended' : 'stopped'}; playing its last seconds)`;
  } else if (serverState === 'live') {
    state = 'starting';
    text = 'Starting: the stream is live; its first segment is on its way.';
  } else {
    state = serverState ?? 'connecting';
    text = MESSAGES[state] ?? state;
  }
  document.body.dataset.state = state;
  show('state', text);
  const overlay = document.getElementById('overlay');
  overlay.hidden = state === 'live';
  overlay.textContent = text;
}

async function poll() {
  try {
    const response = await fetch(`/api/live/${encodeURIComponent(streamName)}`, { cache: 'no-store' });
    const body = await response.json();
    serverState = body.state;
    playable = playerKind === 'hls' ? body.hlsReady === true : body.state === 'live';
    serverUnreachable = false;
  } catch {
    serverUnreachable = true;
  }
  // (Re)start: the stream went live or came back, a player error, or a player that reached an end while the stream is live.
  if (playable && (!player || playerError || player.stale || video.ended)) startPlayer();
  else if (serverState !== 'live' && player && !hasMediaAhead()) stopPlayer();
  render();
}

poll();
setInterval(poll, POLL_MS);
setInterval(() => {
  showStats();
  render();
}, 500);
