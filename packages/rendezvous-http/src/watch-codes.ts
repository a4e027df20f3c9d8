/** Close code of a watch the server ends on purpose; the client reconnects (RFC 6455 §7.4.1). */
export const WATCH_GOING_AWAY = 1001;
