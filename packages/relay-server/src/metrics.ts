// Prometheus text exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).
import type { WsAcceptorStats } from '@srmudp/transport-ws/server';
import type { RelayEngine } from './relay-engine.js';

type Labels = Record<string, string>;
const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const fmt = (l?: Labels) =>
  l && Object.keys(l).length > 0
    ? `{${Object.entries(l)
        .map(([k, v]) => `${k}="${esc(v)}"`)
        .join(',')}}`
    : '';

class Text {
  private readonly out: string[] = [];
  metric(
    name: string,
    type: 'gauge' | 'counter',
    help: string,
    samples: [Labels | undefined, number][],
  ): void {
    this.out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [l, v] of samples) this.out.push(`${name}${fmt(l)} ${Number.isFinite(v) ? v : 0}`);
  }
  toString(): string {
    return `${this.out.join('\n')}\n`;
  }
}

/** Handshake completions over a sliding window, for the handshake-rate gauge. */
export class RateWindow {
  private readonly samples: [number, number][] = [];
  constructor(private readonly windowMs = 10_000) {}
  /** Records the counter's value at `now` and returns the rate per second over the window. */
  rate(now: number, counter: number): number {
    this.samples.push([now, counter]);
    while (this.samples.length > 2 && (this.samples[0] as [number, number])[0] < now - this.windowMs)
      this.samples.shift();
    const [t0, c0] = this.samples[0] as [number, number];
    return now > t0 ? ((counter - c0) * 1000) / (now - t0) : 0;
  }
}

export function renderMetrics(
  engine: RelayEngine,
  ws: WsAcceptorStats,
  handshakeRate: number,
  startedAt: number,
): string {
  const s = engine.stats();
  const r = s.relay;
  const t = new Text();
  const byCarrier = engine.hopsByCarrier();
  t.metric('srmudp_relay_clients', 'gauge', 'Hop sessions up, by carrier.', [
    [{ carrier: 'udp' }, byCarrier.udp],
    [{ carrier: 'websocket' }, byCarrier.websocket],
  ]);
  t.metric('srmudp_relay_websockets', 'gauge', 'WebSockets open.', [[undefined, ws.connections]]);
  t.metric('srmudp_relay_circuits', 'gauge', 'Circuits open.', [[undefined, r.circuits]]);
  t.metric('srmudp_relay_circuits_pending', 'gauge', 'Circuit requests waiting for the target.', [
    [undefined, r.pending],
  ]);
  t.metric('srmudp_relay_circuits_opened_total', 'counter', 'Circuits opened.', [
    [undefined, r.circuitsOpened],
  ]);
  t.metric(
    'srmudp_relay_circuits_rejected_total',
    'counter',
    'Circuit requests rejected, by reason.',
    Object.entries(r.rejected).map(([reason, v]) => [{ reason }, v]),
  );
  t.metric(
    'srmudp_relay_circuits_closed_total',
    'counter',
    'Circuits closed, by reason.',
    Object.entries(r.closed).map(([reason, v]) => [{ reason }, v]),
  );
  t.metric('srmudp_relay_forwarded_packets_total', 'counter', 'Channel datagrams forwarded.', [
    [undefined, r.packetsForwarded],
  ]);
  t.metric('srmudp_relay_forwarded_bytes_total', 'counter', 'Payload bytes forwarded.', [
    [undefined, r.bytesForwarded],
  ]);
  t.metric(
    'srmudp_relay_dropped_total',
    'counter',
    'Datagrams and messages dropped, by reason (relay, carrier, hop sessions).',
    [
      ...Object.entries(r.dropped).map(([reason, v]): [Labels, number] => [{ layer: 'relay', reason }, v]),
      ...Object.entries(s.endpoint.drops).map(([reason, v]): [Labels, number] => [
        { layer: 'core', reason },
        v,
      ]),
      [{ layer: 'carrier', reason: 'udp_send_failed' }, s.carrierSendFailed.udp],
      [{ layer: 'carrier', reason: 'websocket_send_failed' }, s.carrierSendFailed.websocket],
      [{ layer: 'carrier', reason: 'control_undeliverable' }, s.controlDropped],
      [{ layer: 'engine', reason: 'contained' }, s.contained],
    ],
  );
  t.metric(
    'srmudp_relay_websocket_refused_total',
    'counter',
    'WebSockets refused, by typed close reason.',
    Object.entries(ws.refused).map(([reason, v]) => [{ reason }, v]),
  );
  t.metric(
    'srmudp_relay_websocket_closed_total',
    'counter',
    'WebSockets closed, by close code.',
    Object.entries(ws.closed).map(([code, v]) => [{ code }, v]),
  );
  t.metric(
    'srmudp_relay_websocket_errors_total',
    'counter',
    'WebSocket protocol errors, by ws error code (UNSUPPORTED_MESSAGE_LENGTH: over the message size).',
    Object.entries(ws.errors).map(([code, v]) => [{ code }, v]),
  );
  t.metric('srmudp_relay_handshakes_total', 'counter', 'Hop-session handshakes completed.', [
    [undefined, s.handshakesCompleted],
  ]);
  t.metric(
    'srmudp_relay_handshake_initiations_total',
    'counter',
    'Handshake initiations answered with Diffie-Hellman work.',
    [[undefined, s.endpoint.initiationsProcessed]],
  );
  t.metric(
    'srmudp_relay_cookie_replies_total',
    'counter',
    'Initiations answered with a cookie (under load).',
    [[undefined, s.endpoint.cookieRepliesSent]],
  );
  t.metric(
    'srmudp_relay_handshake_rate',
    'gauge',
    'Hop-session handshakes completed per second (last 10 s).',
    [[undefined, handshakeRate]],
  );
  t.metric('srmudp_relay_received_datagrams_total', 'counter', 'Datagrams received, by carrier.', [
    [{ carrier: 'udp' }, s.received.udp],
    [{ carrier: 'websocket' }, s.received.websocket],
  ]);
  t.metric('srmudp_relay_uptime_seconds', 'gauge', 'Seconds since start.', [
    [undefined, (performance.now() - startedAt) / 1000],
  ]);
  const mem = process.memoryUsage();
  t.metric('srmudp_relay_memory_bytes', 'gauge', 'Process memory.', [
    [{ kind: 'rss' }, mem.rss],
    [{ kind: 'heap_used' }, mem.heapUsed],
  ]);
  return t.toString();
}
