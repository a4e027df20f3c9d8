import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { GatewayKind } from './gateway.js';
import type { AutonomiSimulator } from './simulator.js';
import { SimError } from './simulator.js';

/** Misbehaviours a fake gateway can be switched to, for bad-input tests. */
export type GatewayFault = 'garbage' | 'wrong-shape' | 'error500' | 'hang' | 'truncated-json' | 'huge';

export interface FakeGatewayOptions {
  readonly kind: GatewayKind;
  /** Wallet the gateway pays from (fund it with simulator.fund). Default 'gateway-wallet'. */
  readonly wallet?: string;
  /** The key AntTP/dweb derive scratchpad keys from. Default 'gateway-app-key'. */
  readonly appKey?: string;
  readonly host?: string;
}

export interface FakeGateway {
  readonly url: string;
  readonly kind: GatewayKind;
  readonly wallet: string;
  /** Requests served, by "METHOD /path-prefix". */
  readonly requests: Map<string, number>;
  setFault(fault: GatewayFault | null): void;
  close(): Promise<void>;
}

const MAX_BODY = 256 * 1024;

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
  });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new SimError('BAD_REQUEST', 'body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (chunks.length === 0) return resolve(undefined);
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new SimError('BAD_REQUEST', 'body is not JSON'));
      }
    });
    req.on('error', reject);
  });
}

function str(v: unknown, name: string): string {
  if (typeof v !== 'string' || v.length === 0)
    throw new SimError('BAD_REQUEST', `"${name}" must be a non-empty string`);
  return v;
}

function obj(v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null) throw new SimError('BAD_REQUEST', 'body must be a JSON object');
  return v as Record<string, unknown>;
}

const STATUS: Record<SimError['code'], number> = {
  NOT_FOUND: 404,
  EXISTS: 409,
  PAYMENT_REQUIRED: 402,
  COUNTER_NOT_INCREASED: 409,
  BAD_REQUEST: 400,
};

/**
 * Serves one gateway dialect (antd, AntTP or dweb) over an AutonomiSimulator on loopback, so the
 * real HTTP adapters run in CI. Faults can be switched on to answer garbage, wrong shapes, 500s
 * or nothing at all.
 */
export async function startFakeGateway(
  sim: AutonomiSimulator,
  options: FakeGatewayOptions,
): Promise<FakeGateway> {
  const wallet = options.wallet ?? 'gateway-wallet';
  const appKey = options.appKey ?? 'gateway-app-key';
  const requests = new Map<string, number>();
  let fault: GatewayFault | null = null;
  const sockets = new Set<Socket>();

  const antd = async (
    method: string,
    path: string,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> => {
    if (method === 'GET' && path === '/health') return json(res, 200, { status: 'ok', network: 'simulated' });
    if (method === 'POST' && path === '/v1/chunks') {
      const b = obj(await readBody(req));
      const data = Buffer.from(str(b.data, 'data'), 'base64');
      const r = sim.putChunk(new Uint8Array(data), wallet);
      return json(res, 200, { address: r.address, cost: String(r.cost) });
    }
    let m = /^\/v1\/chunks\/([0-9a-f]+)$/.exec(path);
    if (method === 'GET' && m) {
      const data = sim.getChunk(m[1] as string);
      if (data === null) return json(res, 404, { error: 'chunk not found' });
      return json(res, 200, { data: Buffer.from(data).toString('base64') });
    }
    if (method === 'POST' && path === '/v1/pointers') {
      const b = obj(await readBody(req));
      const owner = str(b.owner_secret_key, 'owner_secret_key');
      const target = obj(b.target);
      try {
        const r = await sim.createPointer(owner, str(target.address, 'target.address'), wallet);
        return json(res, 200, { address: r.address, cost: String(sim.costs.pointerCreate) });
      } catch (error) {
        if (error instanceof SimError && error.code === 'EXISTS')
          return json(res, 409, { error: error.message, address: error.address });
        throw error;
      }
    }
    m = /^\/v1\/pointers\/([0-9a-f]+)$/.exec(path);
    if (m && method === 'PUT') {
      const b = obj(await readBody(req));
      const owner = str(b.owner_secret_key, 'owner_secret_key');
      const target = obj(b.target);
      const addr = m[1] as string;
      if (addr !== sim.pointerAddress(owner) && addr !== owner.toLowerCase()) {
        throw new SimError('BAD_REQUEST', 'path is neither the pointer address nor its owner key');
      }
      await sim.updatePointer(owner, str(target.address, 'target.address'), wallet);
      return json(res, 200, { cost: String(sim.costs.pointerUpdate) });
    }
    if (m && method === 'GET') {
      const p = sim.getPointer(m[1] as string);
      if (p === null) return json(res, 404, { error: 'pointer not found' });
      return json(res, 200, {
        address: m[1],
        owner: 'simulated-owner-public-key',
        counter: p.counter,
        target: { kind: 'chunk', address: p.target },
      });
    }
    json(res, 404, { error: 'no such route' });
  };

  const anttp = async (
    method: string,
    path: string,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> => {
    if (method === 'POST' && path === '/anttp-0/public_scratchpad') {
      const b = obj(await readBody(req));
      const name = str(b.name, 'name');
      const content = Buffer.from(str(b.content, 'content'), 'base64');
      try {
        const r = await sim.createScratchpad(appKey, name, new Uint8Array(content), wallet);
        return json(res, 201, { name, address: r.address, content: b.content });
      } catch (error) {
        if (error instanceof SimError && error.code === 'EXISTS')
          return json(res, 409, { error: error.message, address: error.address });
        throw error;
      }
    }
    const m = /^\/anttp-0\/public_scratchpad\/([0-9a-f]+)$/.exec(path);
    if (m && method === 'PUT') {
      const b = obj(await readBody(req));
      const name = str(b.name, 'name');
      if (sim.scratchpadAddress(appKey, name) !== m[1]) {
        return json(res, 412, { error: `Address [${m[1]}] is not derived from name [${name}].` });
      }
      const content = Buffer.from(str(b.content, 'content'), 'base64');
      await sim.updateScratchpad(appKey, name, new Uint8Array(content), wallet);
      return json(res, 200, { name, address: m[1], content: b.content });
    }
    if (m && method === 'GET') {
      const s = sim.getScratchpad(m[1] as string);
      if (s === null) return json(res, 404, { error: 'scratchpad not found' });
      return json(res, 200, {
        name: null,
        address: m[1],
        data_encoding: 0,
        signature: 'c2ltdWxhdGVk',
        content: Buffer.from(s.data).toString('base64'),
        counter: s.counter,
      });
    }
    json(res, 404, { error: 'no such route' });
  };

  const dweb = async (
    method: string,
    path: string,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> => {
    if (path === '/ant-0/scratchpad-public' && (method === 'POST' || method === 'PUT')) {
      const name = str(req.headers['ant-object-name'], 'Ant-Object-Name header');
      const app = str(req.headers['ant-app-id'], 'Ant-App-ID header');
      const b = obj(await readBody(req));
      const raw = b.unencrypted_data;
      if (
        !Array.isArray(raw) ||
        raw.some((x) => typeof x !== 'number' || x < 0 || x > 255 || !Number.isInteger(x))
      ) {
        throw new SimError('BAD_REQUEST', '"unencrypted_data" must be an array of bytes');
      }
      const data = new Uint8Array(raw as number[]);
      const key = `${appKey}/${app}`;
      if (method === 'POST') {
        try {
          const r = await sim.createScratchpad(key, name, data, wallet);
          return json(res, 200, {
            network_address: r.address,
            counter: r.counter,
            dweb_type: 'PublicScratchpad',
          });
        } catch (error) {
          if (error instanceof SimError && error.code === 'EXISTS')
            return json(res, 409, { error: error.message, network_address: error.address });
          throw error;
        }
      }
      const counter = typeof b.counter === 'number' ? b.counter : undefined;
      const c = await sim.updateScratchpad(key, name, data, wallet, counter);
      return json(res, 200, { network_address: sim.scratchpadAddress(key, name), counter: c });
    }
    const m = /^\/ant-0\/scratchpad-public\/([0-9a-f]+)$/.exec(path);
    if (m && method === 'GET') {
      const s = sim.getScratchpad(m[1] as string);
      if (s === null) return json(res, 404, { error: 'scratchpad not found' });
      return json(res, 200, {
        counter: s.counter,
        data_encoding: 0,
        dweb_type: 'PublicScratchpad',
        encryped_data: [],
        scratchpad_address: m[1],
        unencrypted_data: Array.from(s.data),
      });
    }
    json(res, 404, { error: 'no such route' });
  };

  const route = options.kind === 'antd' ? antd : options.kind === 'anttp' ? anttp : dweb;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const label = `${method} ${url.pathname.split('/').slice(0, 3).join('/')}`;
    requests.set(label, (requests.get(label) ?? 0) + 1);
    switch (fault) {
      case 'hang':
        req.resume();
        return; // never answers; the client's timeout must fire
      case 'error500':
        req.resume();
        return json(res, 500, { error: 'internal error' });
      case 'garbage':
        req.resume();
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('\u0000\u00ff<html>not json at all');
        return;
      case 'truncated-json':
        req.resume();
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"address": "ab');
        return;
      case 'wrong-shape':
        req.resume();
        return json(res, 200, {
          address: 42,
          counter: 'seven',
          target: null,
          content: 17,
          data: ['x'],
          unencrypted_data: 'no',
          network_address: [],
        });
      case 'huge':
        req.resume();
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`{"data":"${'A'.repeat(200_000)}"}`);
        return;
      default:
    }
    route(method, url.pathname, req, res).catch((error: unknown) => {
      if (res.headersSent) return;
      if (error instanceof SimError) return json(res, STATUS[error.code], { error: error.message });
      json(res, 500, { error: String(error) });
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, options.host ?? '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    kind: options.kind,
    wallet,
    requests,
    setFault(f) {
      fault = f;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
}
