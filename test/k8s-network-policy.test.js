'use strict';
// The Kubernetes example fences the job: c10d's TCPStore and Gloo are unauthenticated, so a NetworkPolicy
// must select the job's pods and admit ingress only from those same pods (all TCP: Gloo's ports are
// ephemeral). Parsed with `yaml` (already installed as tap's own YAML parser: no new dependency).
const fs = require('node:fs');
const path = require('node:path');
const t = require('tap');
const YAML = require('yaml');
const { ROOT } = require('./helpers/paths');

const file = path.join(ROOT, 'examples', 'distributed', 'k8s-indexed-job.yaml');
const documents = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8')).map((document) => {
  if (document.errors.length > 0) throw document.errors[0];
  return document.toJS();
});

t.test("a NetworkPolicy admits to the job's pods only the job's own pods", async (t) => {
  const job = documents.find((d) => d.kind === 'Job');
  t.ok(job, 'the file holds the Job');
  // The Job controller labels its pods job-name=<job name>: that label is what selects them.
  const podLabels = { 'job-name': job.metadata.name };
  const policies = documents.filter((d) => d.kind === 'NetworkPolicy');
  t.equal(policies.length, 1, 'one NetworkPolicy');
  const [policy] = policies;
  t.equal(policy.apiVersion, 'networking.k8s.io/v1');
  t.same(policy.spec.podSelector, { matchLabels: podLabels }, "it selects the job's pods, by the Job's label");
  t.same(policy.spec.policyTypes, ['Ingress'], 'it governs ingress (any ingress not listed is denied)');
  t.ok(Array.isArray(policy.spec.ingress) && policy.spec.ingress.length > 0, 'some ingress is admitted');
  for (const [i, rule] of policy.spec.ingress.entries()) {
    // A rule without `from` admits every source: each rule must name its sources, and only the job's pods.
    t.ok(Array.isArray(rule.from) && rule.from.length > 0, `ingress[${i}] names its sources`);
    for (const [j, peer] of (rule.from ?? []).entries()) {
      t.same(peer, { podSelector: { matchLabels: podLabels } }, `ingress[${i}].from[${j}] is the job's own pods, nothing else`);
    }
    // All TCP (Gloo's ports are ephemeral), or at least the store's port.
    const ports = rule.ports ?? [{ protocol: 'TCP' }];
    const storePort = job.spec.template.spec.containers[0].ports.find((p) => p.name === 'c10d').containerPort;
    const admitsAllTcp = ports.some((p) => (p.protocol ?? 'TCP') === 'TCP' && p.port === undefined);
    t.ok(admitsAllTcp, `ingress[${i}] admits every TCP port (Gloo's as well as the store's ${storePort})`);
  }
});
