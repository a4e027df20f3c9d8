/** Noise handshake patterns we implement (rev 34 §7.4 and §7.5). */
export type Token = 'e' | 's' | 'ee' | 'es' | 'se' | 'ss';

export interface HandshakePatternDef {
  readonly name: 'NN' | 'IK' | 'XX';
  /** Pre-message tokens: responder's static known to the initiator (IK). */
  readonly preResponder: readonly Token[];
  /** Messages alternate initiator → responder → initiator … */
  readonly messages: readonly (readonly Token[])[];
}

export const NN: HandshakePatternDef = {
  name: 'NN',
  preResponder: [],
  messages: [['e'], ['e', 'ee']],
};

export const IK: HandshakePatternDef = {
  name: 'IK',
  preResponder: ['s'],
  messages: [
    ['e', 'es', 's', 'ss'],
    ['e', 'ee', 'se'],
  ],
};

export const XX: HandshakePatternDef = {
  name: 'XX',
  preResponder: [],
  messages: [['e'], ['e', 'ee', 's', 'es'], ['s', 'se']],
};

export const PATTERNS = { NN, IK, XX } as const;
