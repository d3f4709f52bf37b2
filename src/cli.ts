#!/usr/bin/env node
// The `torchvideo` command line (src/cli/main.ts dispatches the commands).
import { cliMain } from './cli/main';

void cliMain(process.argv.slice(2));
