// The web chat: a static page over @srmudp/browser. Join a group by pasting a member's contact
// card; members introduce the others they know (hello), so one card is enough. Messages are JSON
// lines; a file goes on its own stream to each peer: a header (4-byte length + JSON name, size,
// SHA-256) then the bytes, checked with WebCrypto's SHA-256 on arrival.
import { type BrowserConnection, type BrowserNode, createNode } from '@srmudp/browser';
import { encodeCard, parseCard } from '@srmudp/rendezvous';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const enc = new TextEncoder();
const dec = new TextDecoder();
const MAX_INTRODUCED = 32;
const APP = 'srmudp-web-chat/1';

type Wire = { t: 'hello'; nick: string; peers: string[] } | { t: 'msg'; text: string };

const nicks = new Map<string, string>();
let node: BrowserNode;
let nick = localStorage.getItem('srmudp-chat-nick') ?? `guest-${Math.floor(Math.random() * 1000)}`;

const short = (peerId: string) => `${peerId.slice(0, 8)}…`;
const who = (peerId: string) => nicks.get(peerId) ?? short(peerId);

function log(text: string, from?: string): void {
  const div = document.createElement('div');
  div.className = 'm';
  if (from !== undefined) {
    const b = document.createElement('span');
    b.className = 'who';
    b.textContent = `${from}: `;
    div.append(b, document.createTextNode(text));
  } else {
    div.classList.add('sys');
    div.textContent = text;
  }
  $('log').append(div);
  $('log').scrollTop = $('log').scrollHeight;
}

async function relayAddress(): Promise<string> {
  const q = new URLSearchParams(location.search).get('relay');
  if (q) return q;
  const r = await fetch('/card', { cache: 'no-store' });
  if (!r.ok) throw new Error(`no ?relay= and no /card here (HTTP ${r.status})`);
  return ((await r.json()) as { relay: string }).relay;
}

function myCard(): string {
  return encodeCard({ peerId: node.identity.publicKey, locators: [], name: nick.slice(0, 32), app: APP });
}

function hello(c: BrowserConnection): void {
  const peers = Object.values(node.status().peers)
    .filter((p) => p.state === 'established' && p.peerId !== c.peerId)
    .map((p) => p.peerId);
  c.send(JSON.stringify({ t: 'hello', nick, peers } satisfies Wire));
}

function addPeer(peerId: string): void {
  if (peerId === node.peerId || node.peers.list().includes(peerId)) return;
  if (node.peers.list().length >= MAX_INTRODUCED) return;
  node.peers.add({ [peerId]: peerId });
}

function renderPeers(): void {
  const st = node.status();
  $('relay-state').textContent = `${st.relay.state} (${st.relay.url})`;
  const ul = $('peers');
  ul.replaceChildren();
  for (const p of Object.values(st.peers)) {
    const li = document.createElement('li');
    li.dataset.peer = p.peerId;
    li.dataset.state = p.state;
    const name = document.createElement('b');
    name.textContent = who(p.peerId);
    const state = document.createElement('span');
    state.className = `state-${p.state}`;
    state.textContent = ` ${p.state}`;
    const path = document.createElement('div');
    path.className = 'path';
    path.textContent = p.path
      ? `relayed via ${short(p.path.relay)}${p.rttMs !== null ? ` · rtt ${p.rttMs.toFixed(0)} ms` : ''}`
      : (p.lastError?.message ?? '');
    li.append(name, state, path);
    ul.append(li);
  }
}

function transferRow(label: string): {
  bar: HTMLProgressElement;
  status: HTMLSpanElement;
  row: HTMLDivElement;
} {
  const row = document.createElement('div');
  row.className = 'transfer';
  const bar = document.createElement('progress');
  bar.max = 1;
  bar.value = 0;
  const status = document.createElement('span');
  row.append(document.createTextNode(`${label} `), bar, status);
  $('transfers').append(row);
  return { bar, status, row };
}

const hex = (b: ArrayBuffer) =>
  Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');

async function sendFile(file: File): Promise<void> {
  const data = new Uint8Array(await file.arrayBuffer());
  const sha256 = hex(await crypto.subtle.digest('SHA-256', data));
  const header = enc.encode(JSON.stringify({ name: file.name, size: data.length, sha256 }));
  const targets = Object.values(node.status().peers).filter((p) => p.state === 'established');
  await Promise.all(
    targets.map(async (p) => {
      const conn = node.connection(p.peerId);
      if (!conn) return;
      const t = transferRow(`→ ${who(p.peerId)} ${file.name}`);
      const w = conn.openStream().writable.getWriter();
      const len = new Uint8Array(4);
      new DataView(len.buffer).setUint32(0, header.length);
      await w.write(len);
      await w.write(header);
      for (let off = 0; off < data.length; off += 64 * 1024) {
        await w.write(data.subarray(off, off + 64 * 1024));
        t.bar.value = Math.min(1, (off + 64 * 1024) / Math.max(1, data.length));
      }
      await w.close();
      t.bar.value = 1;
      t.status.textContent = ' sent';
    }),
  );
}

async function receiveFile(conn: BrowserConnection, readable: ReadableStream<Uint8Array>): Promise<void> {
  const reader = readable.getReader();
  let buf = new Uint8Array(0);
  let header: { name: string; size: number; sha256: string } | null = null;
  const parts: Uint8Array[] = [];
  let got = 0;
  let t: ReturnType<typeof transferRow> | null = null;
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    if (header === null) {
      const joined = new Uint8Array(buf.length + r.value.length);
      joined.set(buf);
      joined.set(r.value, buf.length);
      buf = joined;
      if (buf.length < 4) continue;
      const n = new DataView(buf.buffer, buf.byteOffset).getUint32(0);
      if (n > 4096) throw new Error('file header too long');
      if (buf.length < 4 + n) continue;
      header = JSON.parse(dec.decode(buf.subarray(4, 4 + n)));
      if (!header || typeof header.name !== 'string' || !Number.isSafeInteger(header.size))
        throw new Error('bad file header');
      t = transferRow(`← ${who(conn.peerId)} ${header.name}`);
      t.row.dataset.file = header.name;
      const rest = buf.subarray(4 + n);
      parts.push(rest);
      got += rest.length;
    } else {
      parts.push(r.value);
      got += r.value.length;
    }
    if (t && header) t.bar.value = got / Math.max(1, header.size);
  }
  if (!header || !t) return;
  const all = new Uint8Array(got);
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.length;
  }
  const sum = hex(await crypto.subtle.digest('SHA-256', all));
  const ok = got === header.size && sum === header.sha256;
  t.row.dataset.verified = ok ? 'ok' : 'bad';
  t.status.className = ok ? 'ok' : 'bad';
  t.status.textContent = ok ? ' ✓ SHA-256 ok ' : ` ✗ SHA-256 mismatch (${got} of ${header.size} bytes)`;
  if (ok) {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([all]));
    a.download = header.name;
    a.textContent = 'save';
    t.row.append(a);
  }
  log(`${header.name} (${got} bytes) from ${who(conn.peerId)}: ${ok ? 'SHA-256 ok' : 'SHA-256 MISMATCH'}`);
}

async function main(): Promise<void> {
  const relays = [await relayAddress()];
  node = await createNode({ relays });
  (window as unknown as { chat: unknown }).chat = { node, myCard };
  $<HTMLInputElement>('nick').value = nick;
  $('me').textContent = node.peerId;
  $<HTMLTextAreaElement>('card').value = myCard();
  $<HTMLInputElement>('nick').addEventListener('change', (e) => {
    nick = (e.target as HTMLInputElement).value.trim().slice(0, 32) || nick;
    localStorage.setItem('srmudp-chat-nick', nick);
    $<HTMLTextAreaElement>('card').value = myCard();
  });
  $('join').addEventListener('click', () => {
    $('join-error').textContent = '';
    try {
      const card = parseCard($<HTMLTextAreaElement>('join-card').value.trim());
      if (card.app !== undefined && card.app !== APP) throw new Error(`this card is for ${card.app}`);
      if (card.name) nicks.set(card.peerIdText, card.name);
      addPeer(card.peerIdText);
      $<HTMLTextAreaElement>('join-card').value = '';
      log(`joining ${who(card.peerIdText)}…`);
      renderPeers();
    } catch (e) {
      $('join-error').textContent = (e as Error).message;
    }
  });
  $('say').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $<HTMLInputElement>('text');
    const text = input.value.trim();
    if (!text) return;
    node.send(JSON.stringify({ t: 'msg', text } satisfies Wire));
    log(text, nick);
    input.value = '';
  });
  $<HTMLInputElement>('file').addEventListener('change', (e) => {
    const f = (e.target as HTMLInputElement).files?.[0];
    if (f) sendFile(f).catch((err) => log(`file: ${(err as Error).message}`));
  });
  node.onMessage((m) => {
    let w: Wire;
    try {
      w = JSON.parse(dec.decode(m.data));
    } catch {
      return;
    }
    const peerId = node.connection(m.peer)?.peerId ?? m.peer;
    if (w.t === 'hello' && typeof w.nick === 'string') {
      nicks.set(peerId, w.nick.slice(0, 32));
      if (Array.isArray(w.peers)) for (const p of w.peers.slice(0, 8)) if (typeof p === 'string') tryAdd(p);
      renderPeers();
    } else if (w.t === 'msg' && typeof w.text === 'string') log(w.text, who(peerId));
  });
  (async () => {
    for await (const c of node.connections()) {
      if (!node.peers.list().includes(c.peerId)) tryAdd(c.peerId);
      hello(c);
      log(`${who(c.peerId)} connected`);
      (async () => {
        for await (const s of c.streams())
          receiveFile(c, s.readable).catch((err) =>
            log(`file from ${who(c.peerId)}: ${(err as Error).message}`),
          );
      })();
      renderPeers();
    }
  })();
  setInterval(renderPeers, 1000);
  renderPeers();
  document.body.dataset.ready = 'true';
}

function tryAdd(peerId: string): void {
  try {
    addPeer(peerId);
  } catch {
    // not a peer id, or our own: ignored
  }
}

main().catch((e) => {
  log(`cannot start: ${(e as Error).message}`);
  document.body.dataset.ready = 'error';
});
