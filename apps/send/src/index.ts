export {
  type ErrorResponse,
  type FileInfo,
  PROTOCOL_VERSION,
  ProtocolError,
  type Request,
} from './protocol.js';
export {
  EXIT,
  type Progress,
  ReceiveError,
  type ReceiveOptions,
  type ReceiveResult,
  receiveFile,
  safeName,
} from './receiver.js';
export { FileSender, type SenderOptions, type TransferRecord } from './sender.js';
