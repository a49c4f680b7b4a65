/**
 * Run by test/record-objects.test.ts under --disallow-code-generation-from-strings: prints what
 * toObject and JSON.stringify give for each record, and fails if code could be compiled.
 */
import { decoded, objects } from './record-objects.ts';

let compiled = true;
try {
  new Function('return 1');
} catch {
  compiled = false;
}
if (compiled) throw new Error('this child must run with --disallow-code-generation-from-strings');
process.stdout.write(JSON.stringify(objects(decoded())));
