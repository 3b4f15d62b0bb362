// One Lambda execution environment: loads a synthesized bundle (the asset
// directory CDK zipped for the function) with the environment the test gave
// this process, and runs the handler for each event sent over IPC, one at a
// time, as the Lambda runtime does.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [dir, handlerSpec] = process.argv.slice(2);
const [file, exportName] = handlerSpec.split('.');
const mod = await import(pathToFileURL(path.join(dir, `${file}.js`)).href);
const handler = mod[exportName] ?? mod.default?.[exportName];
if (typeof handler !== 'function') throw new Error(`${handlerSpec}: no handler in ${dir}`);
let queue = Promise.resolve();
process.on('message', ({ id, event }) => {
  queue = queue.then(async () => {
    const context = { awsRequestId: `req-${id}`, functionName: process.env.AWS_LAMBDA_FUNCTION_NAME, getRemainingTimeInMillis: () => 30_000 };
    try {
      process.send({ id, result: await handler(event, context) });
    } catch (err) {
      process.send({ id, error: String(err?.stack ?? err) });
    }
  });
});
process.send({ ready: true });
