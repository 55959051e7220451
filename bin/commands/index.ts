/**
 * Every `ms2m` command, in the order `ms2m help` lists them. Each file in this directory exports one
 * {@link CommandModule}; add yours here with one import and one entry.
 */
import type { CommandModule } from '../command-context.ts';
import { evalCommand } from './eval.ts';

export const commands: CommandModule[] = [evalCommand];
