import type { Command } from 'commander';
import { migrateToLatest } from '../../store/index.js';
import { openStoreForCli } from '../open-store.js';
import { dbOption } from '../options.js';
import { UserError } from '../user-error.js';

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('apply database migrations and exit (otactl run also applies them at start)')
    .addOption(dbOption())
    .action(async (options: { db?: string }) => {
      const store = await openStoreForCli(options.db, { migrate: false });
      try {
        const schema = store.spec.kind === 'postgres' ? store.spec.schema : undefined;
        const result = await migrateToLatest(store.db, schema);
        if (!result.ok) throw new UserError(`migrating ${store.description} failed: ${result.error}`);
        const what =
          result.applied.length > 0 ? `applied ${result.applied.join(', ')}` : 'already up to date';
        process.stdout.write(`${store.description}: ${what}\n`);
      } finally {
        await store.close();
      }
    });
}
