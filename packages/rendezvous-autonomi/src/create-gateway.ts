import { AntdGateway } from './antd-gateway.js';
import { AntTpGateway } from './anttp-gateway.js';
import { DwebGateway } from './dweb-gateway.js';
import type { AutonomiGateway, GatewayKind } from './gateway.js';

/** The adapter for a gateway kind. */
export function createGateway(
  kind: GatewayKind,
  url: string,
  options: { timeoutMs?: number } = {},
): AutonomiGateway {
  const common = { url, ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}) };
  if (kind === 'antd') return new AntdGateway(common);
  if (kind === 'anttp') return new AntTpGateway(common);
  if (kind === 'dweb') return new DwebGateway(common);
  throw new TypeError(`"kind" expected antd, anttp or dweb, got ${String(kind)}`);
}
