// Node.js driver through mongossl: TLS options, client certificates, work.
//
//   NODE_PATH=$DEPS/node/node_modules node cases_node.js CONFIG.json
//
// Prints `PASS name` or `FAIL name: reason` per case; exits 1 on any failure.
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { MongoClient } = require('mongodb');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const file = (n) => path.join(cfg.pki, n);
const CA = file('ca.pem');
const CLIENT = file('client.pem');
const CLIENT_ENC = file('client-enc.pem');
const OTHER = file('other-client.pem');
const REVOKED = file('revoked-client.pem');
const only = process.env.CASES;
let passed = 0;
let failed = 0;

class CaseFailure extends Error {}
function check(cond, msg) {
  if (!cond) throw new CaseFailure(msg);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function runCase(name, fn) {
  const full = `node: ${name}`;
  if (only && !full.includes(only)) return;
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`PASS ${full}`);
  } catch (e) {
    failed++;
    const msg = e instanceof CaseFailure ? e.message : `${e.name}: ${String(e.message).split('\n')[0].slice(0, 300)}`;
    console.log(`FAIL ${full}: ${msg}`);
    if (!(e instanceof CaseFailure)) console.error(e);
  }
  console.error(`  (${full}: ${((Date.now() - t0) / 1000).toFixed(1)}s)`);
}

// Watches the part of a mongossl log written after it was created.
function logWatch(inst) {
  const p = cfg.instances[inst].log;
  const offset = fs.statSync(p).size;
  const newText = () => fs.readFileSync(p).subarray(offset).toString('utf8');
  return {
    async expect(needle, timeoutMs = 5000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const text = newText();
        if (text.includes(needle)) return text;
        if (Date.now() > end) {
          const tail = text.trim().split('\n').slice(-3).join(' | ') || '(nothing new)';
          throw new CaseFailure(`mongossl log has no '${needle}'; new log: ${tail}`);
        }
        await sleep(100);
      }
    },
  };
}

function client(inst, opts = {}, query = '') {
  const base = {
    directConnection: true,
    serverSelectionTimeoutMS: 10000,
    connectTimeoutMS: 5000,
    socketTimeoutMS: 60000,
    appName: 'mongossl-it-node',
  };
  return new MongoClient(`mongodb://127.0.0.1:${cfg.instances[inst].port}/${query}`, { ...base, ...opts });
}

async function pingOk(c) {
  try {
    const r = await c.db('admin').command({ ping: 1 });
    check(r.ok === 1, `ping answered ${JSON.stringify(r)}`);
  } finally {
    await c.close();
  }
}

async function refused(c) {
  let r;
  try {
    r = await c.db('admin').command({ ping: 1 });
  } catch (e) {
    return `${e.name}: ${e.message}`;
  } finally {
    await c.close().catch(() => {});
  }
  throw new CaseFailure(`connection was accepted (ping answered ${JSON.stringify(r)})`);
}

async function refusedWithLog(inst, needle, opts) {
  const log = logWatch(inst);
  const err = await refused(client(inst, { serverSelectionTimeoutMS: 3000, ...opts }));
  console.error(`    client error: ${err.slice(0, 200)}`);
  await log.expect(needle);
}

async function main() {
  // --- 1. SSL only -----------------------------------------------------------
  await runCase('ssl-only tls: true, tlsCAFile', () => pingOk(client('ssl', { tls: true, tlsCAFile: CA })));
  await runCase('ssl-only ssl: true, tlsCAFile', () => pingOk(client('ssl', { ssl: true, tlsCAFile: CA })));
  await runCase('ssl-only URI ?ssl=true&tlsCAFile', () =>
    pingOk(client('ssl', {}, `?ssl=true&tlsCAFile=${encodeURIComponent(CA)}`)));
  await runCase('ssl-only tls: true, tlsAllowInvalidCertificates', () =>
    pingOk(client('ssl', { tls: true, tlsAllowInvalidCertificates: true })));
  await runCase('ssl-only URI ?tls=true&tlsInsecure=true', () => pingOk(client('ssl', {}, '?tls=true&tlsInsecure=true')));
  await runCase('ssl-only client without the CA rejects the server', async () => {
    const err = await refused(client('ssl', { tls: true, serverSelectionTimeoutMS: 3000 }));
    check(/certificate/i.test(err), `expected a certificate error, got: ${err.slice(0, 200)}`);
  });

  // --- 2. client certificates required ---------------------------------------
  await runCase('ca tlsCertificateKeyFile', () =>
    pingOk(client('ca', { tls: true, tlsCAFile: CA, tlsCertificateKeyFile: CLIENT })));
  await runCase('ca no client certificate refused', () =>
    refusedWithLog('ca', 'no SSL certificate provided by peer; connection rejected', { tls: true, tlsCAFile: CA }));
  await runCase('ca certificate from another CA refused', () =>
    refusedWithLog('ca', 'SSL peer certificate validation failed', { tls: true, tlsCAFile: CA, tlsCertificateKeyFile: OTHER }));
  await runCase('crl revoked certificate refused', () =>
    refusedWithLog('crl', 'SSL peer certificate validation failed: certificate revoked',
      { tls: true, tlsCAFile: CA, tlsCertificateKeyFile: REVOKED }));
  await runCase('crl good certificate accepted', () =>
    pingOk(client('crl', { tls: true, tlsCAFile: CA, tlsCertificateKeyFile: CLIENT })));

  // --- 3. weak certificate validation ----------------------------------------
  await runCase('weak with certificate', () =>
    pingOk(client('weak', { tls: true, tlsCAFile: CA, tlsCertificateKeyFile: CLIENT })));
  await runCase('weak without certificate (warning logged)', async () => {
    const log = logWatch('weak');
    await pingOk(client('weak', { tls: true, tlsCAFile: CA }));
    const text = await log.expect('no SSL certificate provided by peer');
    check(!text.includes('connection rejected'), "weak validation logged 'connection rejected'");
  });
  await runCase('weak certificate from another CA refused', () =>
    refusedWithLog('weak', 'SSL peer certificate validation failed', { tls: true, tlsCAFile: CA, tlsCertificateKeyFile: OTHER }));

  // --- 4. password-protected keys --------------------------------------------
  await runCase('ca tlsCertificateKeyFilePassword', () =>
    pingOk(client('ca', {
      tls: true, tlsCAFile: CA, tlsCertificateKeyFile: CLIENT_ENC, tlsCertificateKeyFilePassword: cfg.client_password,
    })));
  await runCase('encrypted server key (--sslPEMKeyPassword)', () =>
    pingOk(client('encsrv', { tls: true, tlsCAFile: CA, tlsCertificateKeyFile: CLIENT })));

  // --- 5. work through the front end -----------------------------------------
  const work = client('ssl', { tls: true, tlsCAFile: CA });
  const wdb = work.db('it_node');
  try {
    await wdb.dropDatabase();
    await runCase('work ping', async () => {
      check((await work.db('admin').command({ ping: 1 })).ok === 1, 'ping not ok');
    });
    await runCase('work hello', async () => {
      const r = await work.db('admin').command({ hello: 1 });
      check(r.ok === 1 && r.isWritablePrimary === true, `hello answered ${JSON.stringify(r).slice(0, 200)}`);
    });
    await runCase('work insert 10000 and count', async () => {
      const docs = Array.from({ length: 10000 }, (_, i) => ({ i, pad: 'x'.repeat(100) }));
      const res = await wdb.collection('docs').insertMany(docs);
      check(res.insertedCount === 10000, `inserted ${res.insertedCount}`);
      const n = await wdb.collection('docs').countDocuments({});
      check(n === 10000, `countDocuments = ${n}`);
    });
    await runCase('work cursor with several getMores', async () => {
      const c = client('ssl', { tls: true, tlsCAFile: CA, monitorCommands: true });
      const names = [];
      c.on('commandStarted', (e) => names.push(e.commandName));
      try {
        const seen = new Set();
        for await (const d of c.db('it_node').collection('docs').find({}, { projection: { i: 1 }, batchSize: 500 })) {
          seen.add(d.i);
        }
        const getMores = names.filter((n) => n === 'getMore').length;
        check(seen.size === 10000, `cursor returned ${seen.size} documents`);
        check(getMores >= 3, `only ${getMores} getMore commands`);
      } finally {
        await c.close();
      }
    });
    await runCase('work 15 MB document round trip', async () => {
      const data = crypto.randomBytes(15 * 1024 * 1024);
      await wdb.collection('big').insertOne({ _id: 'big', data });
      const back = await wdb.collection('big').findOne({ _id: 'big' });
      check(back && Buffer.from(back.data.buffer).equals(data), '15 MB document did not round-trip');
    });
    await runCase('work w:0 writes then read', async () => {
      const c = client('ssl', { tls: true, tlsCAFile: CA, maxPoolSize: 1 });
      try {
        const coll = c.db('it_node').collection('w0', { writeConcern: { w: 0 } });
        for (let i = 0; i < 200; i++) {
          const r = await coll.insertOne({ i });
          check(r.acknowledged === false, 'w:0 write was acknowledged');
        }
        await coll.insertMany(Array.from({ length: 800 }, (_, k) => ({ i: 200 + k })));
        let n = 0;
        for (let t = 0; t < 50; t++) {
          n = await c.db('it_node').collection('w0').countDocuments({});
          if (n === 1000) break;
          await sleep(100);
        }
        check(n === 1000, `read after w:0 writes saw ${n} of 1000 documents`);
      } finally {
        await c.close();
      }
    });
    await runCase('work streaming heartbeat 5 s', async () => {
      const c = client('ssl', { tls: true, tlsCAFile: CA, heartbeatFrequencyMS: 500, serverMonitoringMode: 'stream' });
      let ok = 0;
      let awaited = 0;
      const errors = [];
      c.on('serverHeartbeatSucceeded', (e) => { ok++; if (e.awaited) awaited++; });
      c.on('serverHeartbeatFailed', (e) => errors.push(String(e.failure)));
      try {
        await c.connect();
        const end = Date.now() + 5000;
        while (Date.now() < end) {
          await c.db('admin').command({ ping: 1 });
          await sleep(250);
        }
      } finally {
        await c.close();
      }
      check(errors.length === 0, `heartbeat failures: ${errors.slice(0, 3).join('; ')}`);
      check(awaited >= 3, `only ${awaited} awaited (streamed) heartbeats of ${ok} in 5 s`);
      console.error(`    heartbeats: ${ok} succeeded, ${awaited} streamed`);
    });
    await wdb.dropDatabase();
  } finally {
    await work.close();
  }

  // --- 6. plaintext client on the SSL port ------------------------------------
  await runCase('plaintext client refused, TLS client still served', async () => {
    await refusedWithLog('plain-node', 'The server is configured to only allow SSL connections', {});
    await pingOk(client('plain-node', { tls: true, tlsCAFile: CA }));
  });
}

main()
  .catch((e) => {
    failed++;
    console.log(`FAIL node: suite error: ${e.name}: ${String(e.message).split('\n')[0]}`);
    console.error(e);
  })
  .finally(() => process.exit(failed ? 1 : 0));
