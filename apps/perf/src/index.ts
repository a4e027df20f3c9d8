export { describeMachine, type MachineInfo } from './machine.js';
export { renderMarkdown } from './markdown.js';
export { type P1Result, type P1Row, runP1 } from './p1.js';
export { type P2Result, type P2Row, runP2 } from './p2.js';
export { type P3Result, runP3 } from './p3.js';
export { marginalHeap, type P4Result, type P4Row, runP4 } from './p4.js';
export {
  type HandshakeProfileResult,
  type ProfileEntry,
  type ProfileResult,
  profileHandshakes,
  profileSrmudp,
  selfTimes,
  topEntries,
} from './profile.js';
export { buildSummary, PYTHON_QUOTED_MBIT, type Report, type SummaryLine } from './report.js';
export {
  defaultOptions,
  FIGURES,
  type Figure,
  type RunOptions,
  reportJson,
  runReport,
  writeReport,
} from './run.js';
