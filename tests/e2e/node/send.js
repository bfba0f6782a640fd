// Send one identify, one track and one group call to a Pug server through
// the unmodified @segment/analytics-node client, then flush and exit.
//
// Usage: node send.js HOST WRITE_KEY PREFIX TIMESTAMP
// Prints one JSON line per HTTP response ({"status": ...}) and exits with
// status 1 when the client reports an error.
'use strict';

const { Analytics } = require('@segment/analytics-node');

async function main() {
  const [host, writeKey, prefix, timestamp] = process.argv.slice(2);
  if (!host || !writeKey || !prefix || !timestamp) {
    console.error('usage: node send.js HOST WRITE_KEY PREFIX TIMESTAMP');
    process.exit(2);
  }
  const analytics = new Analytics({
    writeKey,
    host,
    path: '/v1/batch',
    flushAt: 1,
    maxRetries: 2,
    httpRequestTimeout: 10000,
  });
  let failed = false;
  analytics.on('error', (error) => {
    failed = true;
    console.error(`analytics-node error: ${error.code || ''} ${error.reason || error.message || error}`);
  });
  analytics.on('http_response', (response) => {
    console.log(JSON.stringify({ status: response.status }));
  });

  const at = new Date(timestamp);
  const user = `${prefix}-user`;
  const anonymous = `${prefix}-anon`;
  const team = `${prefix}-team`;
  analytics.track({
    anonymousId: anonymous,
    event: 'Pricing Viewed',
    timestamp: at,
  });
  analytics.identify({
    userId: user,
    anonymousId: anonymous,
    traits: { plan: 'pro' },
    timestamp: new Date(at.getTime() + 1000),
  });
  analytics.group({
    userId: user,
    groupId: team,
    traits: { name: 'Node Pugs', plan: 'pro' },
    timestamp: new Date(at.getTime() + 2000),
  });
  analytics.track({
    userId: user,
    event: 'Document Edited',
    properties: { words: 42 },
    context: { groups: { team } },
    timestamp: new Date(at.getTime() + 3000),
  });
  await analytics.closeAndFlush({ timeout: 20000 });
  process.exit(failed ? 1 : 0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
