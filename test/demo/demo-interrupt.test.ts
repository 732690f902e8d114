import { access } from 'node:fs/promises';
import { request } from 'node:http';
import { dirname } from 'node:path';
import { expect, it } from 'vitest';
import { runDemo } from '../../controller/demo/index.js';
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

it('stops the controller and the fleet and removes its files when interrupted (Ctrl-C)', async () => {
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
  await expect(access(dirname(logFile))).rejects.toMatchObject({ code: 'ENOENT' });
});
