// A Node.js client of lrctl: loads protos/ at run time, creates a job, trains against its
// learning rate (served from a lease), reports metrics and prints what it saw as JSON.
//   npm ci && node client.js [HOST:PORT] [JOB_ID]
// The test suite runs it against a real server (tests/integrations/test_node_client.py).
"use strict";
const path = require("path");
const crypto = require("crypto");
const grpc = require("@grpc/grpc-js"), loader = require("@grpc/proto-loader");

const def = loader.loadSync("lrctl/v1/controller.proto", {
  includeDirs: [path.join(__dirname, "..", "..", "protos")],
  keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true,
});
const { Controller } = grpc.loadPackageDefinition(def).lrctl.v1;
const target = process.argv[2] || process.env.LRCTL_SERVER || "127.0.0.1:50051";
const controller = new Controller(target, grpc.credentials.createInsecure());

// Every call has a deadline; only the idempotent ones (reads, GetLearningRate,
// ReportMetrics, CreateJob with its idempotency key) are safe to retry.
function call(method, request) {
  return new Promise((resolve, reject) =>
    controller[method](request, { deadline: Date.now() + 10000 }, (err, reply) => (err ? reject(err) : resolve(reply))));
}

// The SDK's lease: LRs for [first, first + lrs.length), valid while the job's version is unchanged.
class Lease {
  constructor(jobId, horizon = 1000) { Object.assign(this, { jobId, horizon, first: 0, lrs: [], version: -1, rpcs: 0 }); }
  async lr(step) {
    if (step < this.first || step >= this.first + this.lrs.length) {
      const reply = await call("GetLearningRate", { job_id: this.jobId, step, horizon: this.horizon });
      Object.assign(this, { first: step, lrs: reply.lrs, version: reply.version, rpcs: this.rpcs + 1 });
    }
    return this.lrs[step - this.first];
  }
  invalidate(version) { if (version !== this.version) this.lrs = []; }
}

async function main(jobId) {
  const policy = {
    lr: 0.1, warmup: { steps: 10, start_factor: 0.1 }, schedule: { cosine: { t_max: 100 } },
    plateau: { metric: "val_loss", factor: 0.5, patience: 0 },
  };
  const job = await call("CreateJob", { job_id: jobId, spec: { policy }, idempotency_key: crypto.randomUUID() });
  const lease = new Lease(jobId), lrs = [], decisions = [];
  for (let step = 0; step < 60; step++) {
    lrs.push(await lease.lr(step));                   // set your optimizer's LR to this, then train one step
    if (step % 20 === 19) {
      const reply = await call("ReportMetrics", { job_id: jobId, step: step + 1, metrics: { val_loss: step / 20 } });
      lease.invalidate(reply.version);                // a report that changed the job ends the lease
      decisions.push({ step: step + 1, lr: reply.lr, version: reply.version,
                       should_stop: reply.should_stop, events: reply.events.map((e) => e.kind) });
    }
  }
  let missing = "OK";
  try { await call("GetJob", { job_id: `${jobId}-missing` }); } catch (err) { missing = grpc.status[err.code]; }
  return { job_id: job.job_id, has_token: job.token.length > 0, lrs, rpcs: lease.rpcs, decisions, missing };
}

main(process.argv[3] || `node-${process.pid}`)
  .then((result) => { console.log(JSON.stringify(result)); controller.close(); })
  .catch((err) => { console.error(`lrctl node client: ${err.message}`); process.exit(1); });
