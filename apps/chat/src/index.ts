export { Chat, type ChatOptions, HELP } from './chat.js';
export {
  type ChatMessage,
  chatMessageSchema,
  cleanNick,
  cleanText,
  decodeChat,
  encodeChat,
  MAX_TEXT,
} from './wire.js';
