// feed: the /v1/live WebSocket of the pages that show the server as it runs
// (Overview, System). It reconnects after a drop, waiting 1 s and doubling up
// to 15 s, shows its state on a badge, and hands every JSON message on.

import { wsUrl } from './api.js';

// badge: the element that says connected / disconnected; msg: the page's message area;
// onMessage(m): each message; onOpen(): each time it connects. Returns { close() } for when the page goes.
export function liveFeed({ badge, msg, onMessage, onOpen = () => {} }) {
  let ws = null;
  let retry = null;
  let backoff = 1000;
  let closed = false;

  async function connect() {
    if (closed) return;
    let url;
    try {
      url = await wsUrl('/v1/live');
    } catch (err) {
      msg.show(err);
      return;
    }
    if (closed) return;
    ws = new WebSocket(url, 'vigia.json');
    ws.onopen = () => {
      backoff = 1000;
      badge.textContent = 'connected';
      badge.className = 'badge ok';
      onOpen();
    };
    ws.onmessage = (e) => {
      if (typeof e.data !== 'string') return;
      let m;
      try {
        m = JSON.parse(e.data);
      } catch (err) {
        msg.show(new Error('the server sent a message that is not JSON'));
        return;
      }
      onMessage(m);
    };
    ws.onclose = (e) => {
      ws = null;
      if (closed) return;
      badge.textContent = `disconnected (${e.code}${e.reason ? ' ' + e.reason : ''}); retrying`;
      badge.className = 'badge bad';
      retry = setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 15000);
    };
  }

  connect();
  return {
    close() {
      closed = true;
      clearTimeout(retry);
      if (ws) ws.close(1000, 'page closed');
    },
  };
}
