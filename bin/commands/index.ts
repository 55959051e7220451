/**
 * Every `ms2m` command. Each file in this directory exports one {@link CommandModule}; add yours here with one
 * import and one entry (bin/cli.ts orders `ms2m help` by its own list, so the order here does not matter).
 */
import type { CommandModule } from '../command-context.ts';
import { agentCommand } from './agent.ts';
import { analyzeCommand } from './analyze.ts';
import { cancelCommand } from './cancel.ts';
import { clusterCommand } from './cluster.ts';
import { demoCommand } from './demo.ts';
import { diagramCommand } from './diagram.ts';
import { evalCommand } from './eval.ts';
import { followCommand } from './follow.ts';
import { logsCommand } from './logs.ts';
import { migrateCommand } from './migrate.ts';
import { operatorCommand } from './operator.ts';
import { statusCommand } from './status.ts';
import { timelineCommand } from './timeline.ts';
import { uiCommand } from './ui.ts';

export const commands: CommandModule[] = [
  migrateCommand,
  statusCommand,
  followCommand,
  cancelCommand,
  logsCommand,
  timelineCommand,
  analyzeCommand,
  demoCommand,
  diagramCommand,
  uiCommand,
  evalCommand,
  clusterCommand,
  operatorCommand,
  agentCommand,
];
