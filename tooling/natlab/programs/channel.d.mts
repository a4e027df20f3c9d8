/** Sends one message to the test (one JSON line on stdout). */
export function send(msg: unknown): void;
/** Calls handler for every JSON line the test sends; returns a function that stops listening. */
export function onMessage<T = Record<string, unknown>>(handler: (msg: T) => void): () => void;
