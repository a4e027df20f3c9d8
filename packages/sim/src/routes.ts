// Owns the links of a Network and which links each hop crosses: named links (shared bottlenecks),
// the route table between adjacent entities, and the implicit "from->to" link created with the
// default impairments on a hop's first use. Adjacency itself is the registry's rule.
import { Link } from './link.js';
import type { LinkConfig } from './link-config.js';
import type { Rng } from './rng.js';

/** Named links and the route (links in series) of every hop between two adjacent entities. */
export class Routes {
  readonly #links = new Map<string, Link>();
  readonly #routes = new Map<string, Link[]>();
  readonly #rng: Rng;
  #defaultLink: LinkConfig;

  /** Validates `defaultLink` (RangeError); each link draws from its own fork `link:<name>` of `rng`. */
  constructor(rng: Rng, defaultLink: LinkConfig) {
    this.#rng = rng;
    new Link('default', defaultLink, rng); // validate early
    this.#defaultLink = defaultLink;
  }

  /** Impairments of links created implicitly from now on (existing ones keep theirs). */
  setDefaultLink(cfg: LinkConfig): void {
    new Link('default', cfg, this.#rng); // validate
    this.#defaultLink = cfg;
  }

  has(name: string): boolean {
    return this.#links.has(name);
  }

  link(name: string): Link | undefined {
    return this.#links.get(name);
  }

  /** Creates the named link, or reconfigures it keeping its queue and counters. */
  addLink(name: string, cfg: LinkConfig): Link {
    let link = this.#links.get(name);
    if (link === undefined) {
      link = new Link(name, cfg, this.#rng.fork(`link:${name}`));
      this.#links.set(name, link);
    } else link.configure(cfg);
    return link;
  }

  /** The hop `from` -> `to` crosses its own link `"from->to"` configured with `cfg`. */
  setLink(from: string, to: string, cfg: LinkConfig): void {
    this.#routes.set(routeKey(from, to), [this.addLink(`${from}->${to}`, cfg)]);
  }

  /** The hop `from` -> `to` crosses these named links in order. */
  setRoute(from: string, to: string, links: string[]): void {
    if (!Array.isArray(links) || links.length === 0)
      throw new RangeError('"links" expected a non-empty array');
    this.#routes.set(
      routeKey(from, to),
      links.map((n) => {
        const l = this.#links.get(n);
        if (l === undefined) throw new RangeError(`no link named "${n}"`);
        return l;
      }),
    );
  }

  /** The links of the hop `from` -> `to`, creating `"from->to"` with the default impairments on first use. */
  route(from: string, to: string): Link[] {
    const k = routeKey(from, to);
    let r = this.#routes.get(k);
    if (r === undefined) {
      const name = `${from}->${to}`;
      let l = this.#links.get(name);
      if (l === undefined) {
        l = new Link(name, this.#defaultLink, this.#rng.fork(`link:${name}`));
        this.#links.set(name, l);
      }
      r = [l];
      this.#routes.set(k, r);
    }
    return r;
  }
}

function routeKey(from: string, to: string): string {
  return `${from}\u0000${to}`;
}
