// The list of live streams on the index page, refreshed every 3 s from /api/live.
'use strict';
// The publish URL on the host this page was loaded from, with the server's real RTMP port and app.
const [rtmpPort, rtmpApp] = document.querySelector('meta[name=bridgecast-rtmp]').content.split(' ');
const obsServer = `rtmp://${location.hostname}${rtmpPort === '1935' ? '' : `:${rtmpPort}`}/${rtmpApp}`;
document.getElementById('obs-server').textContent = obsServer;
document.getElementById('publish-url').textContent = `${obsServer}/<stream key>`;

function cell(text) {
  const td = document.createElement('td');
  td.textContent = text;
  return td;
}

function duration(seconds) {
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  return h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${s}s` : `${s}s`;
}

async function refresh() {
  const body = document.querySelector('#streams tbody');
  let streams;
  try {
    streams = (await (await fetch('/api/live')).json()).streams;
  } catch {
    return; // keep the last list; the server may be restarting
  }
  body.replaceChildren();
  if (streams.length === 0) {
    const row = body.insertRow();
    row.append(cell('no live streams yet'));
    row.cells[0].colSpan = 7;
    row.cells[0].className = 'empty';
    return;
  }
  for (const s of streams) {
    const row = body.insertRow();
    const video = s.video ? `${s.video.codec}${s.video.width ? ` ${s.video.width}×${s.video.height}` : ''}` : '–';
    row.append(cell(`${s.app}/${s.name}`), cell(video), cell(s.audio ? s.audio.codec : '–'),
      cell(`${s.bitrateKbps} kbit/s`), cell(String(s.viewers.total)), cell(duration(s.uptimeSeconds)));
    const watch = document.createElement('td');
    for (const player of ['hls', 'flv']) {
      const a = document.createElement('a');
      a.href = `/watch/${encodeURIComponent(s.name)}?player=${player}`;
      a.textContent = player === 'hls' ? 'watch (HLS)' : 'watch (HTTP-FLV)';
      watch.append(a, ' ');
    }
    row.append(watch);
  }
}

refresh();
setInterval(refresh, 3000);
