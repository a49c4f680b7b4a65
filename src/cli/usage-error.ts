/** A usage mistake of the `shoal` command (a flag missing, malformed or contradicting another): exit code 2. */
export class UsageError extends Error {}
