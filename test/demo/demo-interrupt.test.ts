import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { expect, it } from 'vitest';
import { DemoSetupError, EXAMPLES_DIR, runDemo } from '../../controller/demo/index.js';
import { CapturedOutput } from './capture-output.js';

function httpGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    })
      .on('error', reject)
      .end();
  });
}

it('stops the controller and the fleet and removes its files but the log it named when interrupted (Ctrl-C)', async () => {
  const out = new CapturedOutput();
  const abort = new AbortController();
  // Plain CoAP here; the demo-run test covers the default, DTLS.
  const running = runDemo({ devices: 20, out, signal: abort.signal, transport: 'coap' });

  const [, url] = (await out.waitFor(/dashboard (http:\/\/127\.0\.0\.1:\d+\/)/)) as [string, string];
  const [, logFile] = (await out.waitFor(/log (\S+otactl\.log)/)) as [string, string];
  await out.waitFor(/applying Rollout/);
  expect(await httpGet(`${url}healthz`)).toBe(200);
  abort.abort();
  const result = await running;

  expect(result.kind).toBe('interrupted');
  expect(result.exitCode).toBe(130);
  expect(out.text).toContain('interrupted, stopping');
  await expect(httpGet(`${url}healthz`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  await expect(readdir(dirname(logFile))).resolves.toEqual(['otactl.log']);
  await rm(dirname(logFile), { recursive: true, force: true });
});

it('keeps the controller log it names when it fails', async () => {
  const examples = await mkdtemp(join(tmpdir(), 'otactl-demo-examples-'));
  try {
    await copyFile(
      join(EXAMPLES_DIR, 'canary-rollout.yaml.tmpl'),
      join(examples, 'canary-rollout.yaml.tmpl'),
    );
    // The group the controller loads first is invalid: the demo cannot start.
    await writeFile(
      join(examples, 'device-group.yaml'),
      'apiVersion: otactl/v1alpha1\nkind: DeviceGroup\nmetadata:\n  name: demo-fleet\nspec:\n  selector: 42\n',
    );
    const out = new CapturedOutput();
    const error = await runDemo({ devices: 2, out, transport: 'coap', examplesDir: examples }).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(DemoSetupError);
    const [, logFile] = (error as Error).message.match(/see (\S+otactl\.log)/) as [string, string];
    expect(await readFile(logFile, 'utf8')).toContain('device-group.yaml');
    expect(await readdir(dirname(logFile))).toEqual(['otactl.log']);
    await rm(dirname(logFile), { recursive: true, force: true });
  } finally {
    await rm(examples, { recursive: true, force: true });
  }
});
