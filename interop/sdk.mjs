#!/usr/bin/env node
// Drives Alipay's official Node SDK (npm `alipay-sdk`, pinned in
// package.json / package-lock.json) for interop_test.go. Adapted from
// shared/oracle/sign.mjs; the differences are batch mode (one JSON array of
// cases in, one JSON array of results out, so the Go test starts node once
// per direction instead of once per case) and ordered parameters.
//
//   node sdk.mjs sign    < [{"pairs":[["k","v"],...],"privateKeyPem":"...","signType":"RSA2"}, ...]
//     -> [{"body":"k=v&...&sign_type=RSA2&sign=...","content":"...","sign":"..."}, ...]
//        The string-to-sign is built by the SDK's own notification content
//        builder (AlipaySdk#notifyRSACheck, raw mode = the checkNotifySignV2
//        path); the signature uses the SDK's algorithm table
//        (util.js ALIPAY_ALGORITHM_MAPPING) through the call the SDK's request
//        signer makes: createSign(alg).update(content, 'utf8').sign(key,
//        'base64'). For RSA2 it is cross-checked against the SDK's
//        signatureV3(). The body is serialised with WHATWG URLSearchParams in
//        the order of "pairs", then sign_type and sign appended, and
//        self-checked with checkNotifySignV2.
//        Optional per case: "signTypeInContent": true (V2 content).
//
//   node sdk.mjs verify  < [{"body":"...","publicKeyPem":"...","api":"checkNotifySignV2"}, ...]
//     -> [{"ok":true}, {"ok":false,"contentV1":"..."}, ...]
//        The body is parsed with URLSearchParams (what a Node web framework
//        hands the SDK: '+' = space, %XX = UTF-8, last duplicate wins) and
//        passed to checkNotifySignV2 (default) or checkNotifySign.
//
//   node sdk.mjs content < [{"pairs":[...],"signType":"RSA2","signTypeInContent":false}, ...]
//     -> ["k=v&...", ...]   (the SDK's string-to-sign, for debugging)
//
//   node sdk.mjs request < [{"method":"alipay.trade.query","timestamp":"...","bizContent":"{...}",
//                             "appId":"...","privateKeyPem":"...","signType":"RSA2",
//                             "appCertPem":"...","alipayCertPem":"...","rootCertPem":"...","gateway":"https://..."}, ...]
//     -> [{"params":{...,"sign":"..."},"url":"https://...?...","body":{"biz_content":"..."}}, ...]
//        The SDK signs the same query the Go client sent: util.js sign()
//        (the request signer AlipaySdk#exec calls), given the Go request's
//        timestamp and biz_content, with the SNs the SDK computes itself in
//        certificate mode (constructor: getSN of appCertContent and
//        alipayRootCertContent); then AlipaySdk#formatUrl splits the
//        parameters between URL and body as #exec sends them.
//
//   node sdk.mjs response < [{"response":{...},"privateKeyPem":"...","signType":"RSA2","certSn":"..."}, ...]
//     -> [{"body":"{\"alipay_trade_query_response\":{...},\"sign\":\"...\"}","signStr":"..."}, ...]
//        A signed answer built as the SDK's tests build them: the response
//        object JSON.stringify'd and signed, the body JSON.stringify'd around
//        it (alipay_cert_sn before sign when certSn is given); self-checked
//        with AlipaySdk#checkResponseSign. signStr is AlipaySdk#getSignStr of
//        the body: the substring the SDK verifies.
//
//   node sdk.mjs checkresponse < [{"body":"...","publicKeyPem":"...","signType":"RSA2"}, ...]
//     -> [{"ok":true,"signStr":"..."}, {"ok":false,"error":"..."}, ...]
//        AlipaySdk#checkResponseSign on an answer body as received.
//
// A single JSON object instead of an array is accepted and answered with a
// single result. A case that fails gets {"error":"..."}; the exit status is 0
// unless the input itself is unusable (2).
//
// The SDK is UTF-8 only (types.ts `charset?: 'utf-8'`; rsaCheck() hashes
// 'utf-8'), so this script never deals with GBK.

import { createSign, createPublicKey, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AlipaySdk } from 'alipay-sdk';

// util.js is not in the package "exports" map; load it by file URL next to
// the resolved entry point (dist/esm/index.js -> dist/esm/util.js).
const utilUrl = new URL('./util.js', import.meta.resolve('alipay-sdk'));
const { ALIPAY_ALGORITHM_MAPPING, signatureV3, sign: sdkSign } = await import(utilUrl.href);

const SDK_VERSION = JSON.parse(readFileSync(new URL('../../package.json', import.meta.resolve('alipay-sdk')), 'utf8')).version;

function die(msg) {
  process.stderr.write(`sdk.mjs: ${msg}\n`);
  process.exit(2);
}

// Instances are only used for their notification code paths. The
// constructor requires appId/privateKey; neither is used by
// notifyRSACheck/checkNotifySign.
const sdks = new Map();
function sdkFor(publicKeyPem, signType) {
  const id = `${signType}\n${publicKeyPem}`;
  if (!sdks.has(id)) {
    sdks.set(id, new AlipaySdk({
      appId: 'interop',
      privateKey: 'unused',
      alipayPublicKey: publicKeyPem || 'unused',
      signType: signType || 'RSA2',
    }));
  }
  return sdks.get(id);
}

function toParams(c) {
  if (Array.isArray(c.pairs)) {
    const out = {};
    for (const [k, v] of c.pairs) out[k] = typeof v === 'string' ? v : JSON.stringify(v);
    return out;
  }
  if (c.params && typeof c.params === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(c.params)) out[k] = typeof v === 'string' ? v : JSON.stringify(v);
    return out;
  }
  throw new Error('"pairs" (array of [key, value]) or "params" (object) required');
}

// The SDK's own string-to-sign: notifyRSACheck() builds it and hands it to
// this.rsaCheck(); a dedicated instance has rsaCheck shadowed to capture it.
const contentSdk = new AlipaySdk({ appId: 'interop', privateKey: 'unused', alipayPublicKey: 'unused' });
function sdkContent(params, signTypeInContent, signType) {
  let captured;
  contentSdk.rsaCheck = (content) => {
    captured = content;
    return true;
  };
  const args = { ...params };
  delete args.sign;
  if (signTypeInContent) args.sign_type = signType;
  else delete args.sign_type;
  contentSdk.notifyRSACheck(args, 'unused', signType, true); // raw: no decodeURIComponent (checkNotifySignV2 path)
  if (typeof captured !== 'string') throw new Error('could not capture the SDK content string');
  return captured;
}

const publicPems = new Map();
function publicPemFromPrivate(privateKeyPem) {
  if (!publicPems.has(privateKeyPem)) {
    publicPems.set(privateKeyPem, createPublicKey(createPrivateKey(privateKeyPem)).export({ type: 'spki', format: 'pem' }).toString());
  }
  return publicPems.get(privateKeyPem);
}

function signCase(c) {
  const signType = c.signType || 'RSA2';
  const algorithm = ALIPAY_ALGORITHM_MAPPING[signType];
  if (!algorithm) throw new Error(`signType must be one of ${Object.keys(ALIPAY_ALGORITHM_MAPPING).join(', ')}`);
  if (!c.privateKeyPem) throw new Error('"privateKeyPem" required');
  const params = toParams(c);
  delete params.sign;
  delete params.sign_type;

  const content = sdkContent(params, !!c.signTypeInContent, signType);
  // Same call as alipay-sdk util.js sign(): createSign(alg).update(str,'utf8').sign(key,'base64')
  const sign = createSign(algorithm).update(content, 'utf8').sign(c.privateKeyPem, 'base64');
  if (signType === 'RSA2' && signatureV3(content, c.privateKeyPem) !== sign) {
    throw new Error('internal: signature differs from SDK signatureV3()');
  }

  const form = new URLSearchParams();
  const order = Array.isArray(c.pairs) ? c.pairs.map(([k]) => k) : Object.keys(params);
  for (const k of order) if (k !== 'sign' && k !== 'sign_type') form.append(k, params[k]);
  form.append('sign_type', signType);
  form.append('sign', sign);
  const body = form.toString();

  const sdk = sdkFor(publicPemFromPrivate(c.privateKeyPem), signType);
  if (!sdk.checkNotifySignV2(Object.fromEntries(new URLSearchParams(body)))) {
    throw new Error('internal: SDK checkNotifySignV2 rejected the freshly signed body');
  }
  return { body, content, sign };
}

function verifyCase(c) {
  if (!c.publicKeyPem) throw new Error('"publicKeyPem" required (SPKI PEM or bare base64)');
  if (typeof c.body !== 'string') throw new Error('"body" (form string) required');
  const postData = Object.fromEntries(new URLSearchParams(c.body.trim()));
  const api = c.api || 'checkNotifySignV2';
  if (api !== 'checkNotifySignV2' && api !== 'checkNotifySign') throw new Error('api must be checkNotifySignV2 or checkNotifySign');
  const sdk = sdkFor(c.publicKeyPem, postData.sign_type || 'RSA2');
  let ok;
  try {
    ok = sdk[api](postData) === true;
  } catch (e) {
    // checkNotifySign (decode mode) throws URIError on '%' sequences; an
    // unknown sign_type throws TypeError. Both mean "not verified".
    return { ok: false, threw: e.message };
  }
  if (ok) return { ok };
  return { ok, contentV1: sdkContent(postData, false, postData.sign_type || 'RSA2') };
}

function contentCase(c) {
  return sdkContent(toParams(c), !!c.signTypeInContent, c.signType || 'RSA2');
}

const QUERY_RESPONSE_KEY = 'alipay_trade_query_response';

function requestCase(c) {
  const config = { appId: c.appId, privateKey: c.privateKeyPem, signType: c.signType || 'RSA2', alipayPublicKey: 'unused', gateway: c.gateway };
  if (/BEGIN PRIVATE KEY/.test(c.privateKeyPem)) config.keyType = 'PKCS8';
  if (c.appCertPem) {
    delete config.alipayPublicKey;
    Object.assign(config, { appCertContent: c.appCertPem, alipayPublicCertContent: c.alipayCertPem, alipayRootCertContent: c.rootCertPem });
  }
  const sdk = new AlipaySdk(config);
  // sign() fills timestamp with the clock; the Go request's own timestamp
  // is passed as a parameter, which sign() copies over it.
  const params = sdkSign(c.method, { timestamp: c.timestamp, bizContent: JSON.parse(c.bizContent) }, sdk.config);
  const { url, execParams } = sdk.formatUrl(sdk.config.gateway, params);
  return { params, url, body: execParams };
}

function responseCase(c) {
  const signType = c.signType || 'RSA2';
  const text = JSON.stringify(c.response);
  const sign = createSign(ALIPAY_ALGORITHM_MAPPING[signType]).update(text, 'utf8').sign(c.privateKeyPem, 'base64');
  const answer = { [QUERY_RESPONSE_KEY]: c.response };
  if (c.certSn) answer.alipay_cert_sn = c.certSn;
  answer.sign = sign;
  const body = JSON.stringify(answer);
  const sdk = new AlipaySdk({ appId: 'interop', privateKey: 'unused', alipayPublicKey: publicPemFromPrivate(c.privateKeyPem), signType });
  sdk.checkResponseSign(body, QUERY_RESPONSE_KEY, sign, 'interop'); // throws if the SDK does not verify it
  return { body, signStr: sdk.getSignStr(body, QUERY_RESPONSE_KEY) };
}

function checkResponseCase(c) {
  const sdk = new AlipaySdk({ appId: 'interop', privateKey: 'unused', alipayPublicKey: c.publicKeyPem, signType: c.signType || 'RSA2' });
  const signStr = sdk.getSignStr(c.body, QUERY_RESPONSE_KEY);
  try {
    sdk.checkResponseSign(c.body, QUERY_RESPONSE_KEY, JSON.parse(c.body).sign, 'interop');
  } catch (e) {
    return { ok: false, signStr, error: e.message };
  }
  return { ok: true, signStr };
}

const handlers = { sign: signCase, verify: verifyCase, content: contentCase, request: requestCase, response: responseCase, checkresponse: checkResponseCase };
const cmd = process.argv[2];
if (cmd === 'version') {
  process.stdout.write(`${SDK_VERSION}\n`);
  process.exit(0);
}
const handler = handlers[cmd];
if (!handler) die('usage: node sdk.mjs sign|verify|content|request|response|checkresponse|version < cases.json');

let input;
try {
  input = JSON.parse(readFileSync(0, 'utf8'));
} catch (e) {
  die(`stdin is not JSON: ${e.message}`);
}
const single = !Array.isArray(input);
const results = (single ? [input] : input).map((c) => {
  try {
    return handler(c);
  } catch (e) {
    return { error: e.message };
  }
});
process.stdout.write(JSON.stringify(single ? results[0] : results) + '\n');
