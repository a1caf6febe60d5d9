/**
 * `flotilla delete`: deletes a deployment (refused while it serves).
 *
 * @module
 */
import type { ControlApi } from '@flotilla/deploy';
import { InvalidOptionError, isSubjectToken } from '@flotilla/protocol';
import { type ControlCommand, type Ctx, hostUrl, out } from './context.ts';
import { withFleet } from './fleet-connection.ts';

async function deleteDeployment(ctx: Ctx, cp: ControlApi): Promise<number> {
  const id = ctx.positionals[0];
  if (!id || ctx.positionals.length > 1) {
    throw new InvalidOptionError('<deployment-id>', 'is required: flotilla delete <deployment-id>');
  }
  if (!isSubjectToken(id))
    throw new InvalidOptionError('<deployment-id>', `"${id}" is not a deployment id`);
  await cp.deleteDeployment(id);
  return out(
    ctx,
    { deleted: id },
    `deleted ${id}: its preview host ${hostUrl(ctx, cp.previewHost(id))} no longer serves it\n`,
  );
}

/** `flotilla delete`, for the command table. */
export const deleteCommand: ControlCommand = {
  name: 'delete',
  usage: `  flotilla delete <deployment-id>                      delete a deployment and its preview host
      (refused while an environment or split test serves it)
`,
  options: {},
  run: (ctx) => withFleet(ctx, (cp) => deleteDeployment(ctx, cp)),
};
