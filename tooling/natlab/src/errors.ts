/** Codes of {@link LabError}. Tests match on these, never on messages. */
export type LabErrorCode =
  | 'LAB_UNSUPPORTED' // the machine cannot run the lab (not root, no netns, no nft)
  | 'LAB_SETUP_FAILED' // a command building the lab failed
  | 'LAB_NOT_UP' // the lab is down (or was never brought up)
  | 'LAB_PROFILE_MISMATCH' // the self-check measured a NAT behaviour other than the profile's
  | 'LAB_TIMEOUT' // a bounded wait ran out
  | 'LAB_PROCESS_EXITED'; // a process spawned in a namespace exited while a message was awaited

/**
 * Every lab failure. A lab error means the test environment is wrong, not the code under test:
 * a punch test that sees one should fail as a lab error, never count as a punch result.
 * (Standalone on purpose: the lab is tooling and must not depend on the packages it tests.)
 */
export class LabError extends Error {
  readonly code: LabErrorCode;
  constructor(code: LabErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'LabError';
  }
}
