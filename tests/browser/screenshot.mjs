// Screenshots of the demo page driven like a person would, against the fake signaling
// server and a stand-in for /v1/dev/token. Writes PNGs (not committed) to the directory
// given as the first argument (default: /tmp/pstn-bridge-shots).
// Run: cd tests/browser && node screenshot.mjs [DIR]
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startStaticServer, launchChromium, openPage } from './lib.mjs';
import { attachFakeSignaling } from './fake-signaling.mjs';

const dir = process.argv[2] ?? '/tmp/pstn-bridge-shots';
await mkdir(dir, { recursive: true });

const web = await startStaticServer(undefined, {
  handle(req, res) {
    if (req.url !== '/v1/dev/token' || req.method !== 'POST') return false;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: 'good' }));
    return true;
  },
});
const fake = attachFakeSignaling(web.server);
const browser = await launchChromium();
const shots = [];
const shoot = async (page, name) => {
  const file = join(dir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  shots.push(file);
};
try {
  for (const [label, viewport] of [['desktop', { width: 1280, height: 900 }], ['narrow', { width: 420, height: 900 }]]) {
    const page = await openPage(browser, web.url, '/', { viewport });
    await shoot(page, `${label}-1-start`);

    await page.getByText('Mint a demo token').click();
    await page.getByRole('button', { name: 'Mint demo token' }).click();
    await page.waitForFunction(() => document.getElementById('token').value === 'good');
    const sessionP = fake.nextSession();
    await page.getByRole('button', { name: 'Connect', exact: true }).click();
    const s = await sessionP;
    await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor();

    for (const key of '+14155550123') {
      if (key === '+') await page.getByLabel('Number to call').fill('+');
      else await page.getByRole('group', { name: /Dial pad/ }).getByRole('button', { name: key, exact: true }).click();
    }
    await page.getByRole('button', { name: 'Call', exact: true }).click();
    const req = await s.next('startPhoneCall');
    s.send({ type: 'callAccepted', requestId: req.requestId, callId: 'c-1a2b3c' });
    s.send({ type: 'callState', callId: 'c-1a2b3c', state: 'Ringing' });
    s.send({ type: 'callState', callId: 'c-1a2b3c', state: 'Connected' });
    s.send({ type: 'incomingCall', callId: 'c-4d5e6f', callerId: { number: '+14155550999', name: 'Bob Example' }, to: '+14155550100' });
    await page.getByRole('button', { name: 'Answer' }).waitFor();
    await page.getByRole('button', { name: 'Mute' }).click();
    await shoot(page, `${label}-2-calls`);

    const incoming = page.getByRole('listitem', { name: /from Bob Example/ });
    const outgoing = page.getByRole('listitem', { name: /to \+14155550123/ });
    await incoming.getByRole('button', { name: 'Busy' }).click();
    await s.next('reject');
    s.send({ type: 'callEnded', callId: 'c-4d5e6f', callEndReason: { code: 0, subCode: 0 }, reason: 'rejected' });
    await outgoing.getByRole('button', { name: 'Hang up' }).click();
    await s.next('hangUp');
    s.send({ type: 'callEnded', callId: 'c-1a2b3c', callEndReason: { code: 0, subCode: 0 }, reason: 'hung up' });
    await page.waitForFunction(() => window.demo.calls.every((c) => c.state === 'Disconnected'));
    await shoot(page, `${label}-3-ended`);
    if (page.problems.length) throw new Error(`page errors: ${page.problems}`);
    await page.context().close();
  }
} finally {
  await browser.close();
  await web.close();
}
console.log(shots.join('\n'));
