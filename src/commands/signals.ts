/** Ctrl-C and SIGTERM for the long-running commands, and the exit codes they end with. */

/** Installs SIGINT/SIGTERM handlers that call `stop`; a second signal exits at once. */
export function onSignals(stop: (signal: NodeJS.Signals) => void): () => void {
  let count = 0;
  const handler = (signal: NodeJS.Signals) => {
    count++;
    if (count > 1) process.exit(signal === 'SIGINT' ? 130 : 143);
    stop(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/** 128 + the signal's number: 143 for SIGTERM, else 130 (SIGINT). */
export const signalExit = (signal: NodeJS.Signals | null) => (signal === 'SIGTERM' ? 143 : 130);
