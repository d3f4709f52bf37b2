'use strict';
// The Kubernetes serving example (examples/serving/deployment.yaml), checked with a YAML parser (not run
// on a cluster): the Service selects the Deployment's pods and targets the port the server listens on, the
// probes are the health routes on that port, the command is `torchvideo serve` with flags it takes, bound
// beyond loopback, and the pod's termination grace outlasts the server's own drain.
const fs = require('node:fs');
const path = require('node:path');
const t = require('tap');
const YAML = require('yaml');
const { ROOT } = require('./helpers/paths');
const { SERVE_USAGE } = require('../dist/internal.js');

const file = path.join(ROOT, 'examples', 'serving', 'deployment.yaml');
const documents = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8')).map((document) => {
  if (document.errors.length > 0) throw document.errors[0];
  return document.toJS();
});
const deployment = documents.find((d) => d.kind === 'Deployment');
const service = documents.find((d) => d.kind === 'Service');

// The value after `flag` in the command line.
const flagValue = (command, flag) => {
  const at = command.indexOf(flag);
  return at === -1 ? undefined : command[at + 1];
};

t.test('a Deployment of several replicas behind a Service that selects its pods', async (t) => {
  t.ok(deployment, 'the file holds a Deployment');
  t.ok(service, 'the file holds a Service');
  t.equal(deployment.apiVersion, 'apps/v1');
  t.ok(deployment.spec.replicas >= 2, `scale-out is replicas (${deployment.spec.replicas})`);
  const podLabels = deployment.spec.template.metadata.labels;
  t.same(deployment.spec.selector.matchLabels, podLabels, "the Deployment's selector matches its pods' labels");
  for (const [key, value] of Object.entries(service.spec.selector))
    t.equal(podLabels[key], value, `the Service selects the pods by ${key}`);
  const [container] = deployment.spec.template.spec.containers;
  const port = container.ports.find(
    (p) => p.name === service.spec.ports[0].targetPort || p.containerPort === service.spec.ports[0].targetPort,
  );
  t.ok(port, "the Service's targetPort is a port of the container");
  t.equal(String(port.containerPort), flagValue(container.command, '--port'), 'the container port is the one serve listens on');
});

t.test('the container runs torchvideo serve, on every interface of the pod, with flags it takes', async (t) => {
  const [container] = deployment.spec.template.spec.containers;
  const { command } = container;
  t.same(command.slice(0, 3), ['npx', 'torchvideo', 'serve']);
  t.equal(flagValue(command, '--host'), '0.0.0.0', 'bound beyond loopback, or the probes and the Service could not reach it');
  t.ok(flagValue(command, '--model'), 'a model to serve');
  for (const flag of command.filter((word) => word.startsWith('--'))) {
    t.ok(SERVE_USAGE.includes(`[${flag} `) || SERVE_USAGE.includes(`${flag} `), `${flag} is a flag of torchvideo serve`);
  }
  const tokenFile = flagValue(command, '--token-file');
  t.ok(tokenFile, 'a bearer token guards the routes');
  const mount = container.volumeMounts.find((m) => tokenFile.startsWith(`${m.mountPath}/`));
  t.ok(mount, 'the token file is on a mounted volume');
  const volume = deployment.spec.template.spec.volumes.find((v) => v.name === mount.name);
  t.ok(volume.secret?.secretName, 'from a Secret');
});

t.test('probes on the health routes, and a termination grace longer than the drain', async (t) => {
  const [container] = deployment.spec.template.spec.containers;
  const portNames = new Set(container.ports.flatMap((p) => [p.name, p.containerPort]));
  t.equal(container.readinessProbe.httpGet.path, '/v2/health/ready', 'readiness: the route that turns 503 when draining');
  t.equal(container.livenessProbe.httpGet.path, '/v2/health/live');
  for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
    if (container[probe]) t.ok(portNames.has(container[probe].httpGet.port), `${probe} on the served port`);
  }
  const graceS = Number(flagValue(container.command, '--grace-s') ?? 30);
  const podGrace = deployment.spec.template.spec.terminationGracePeriodSeconds ?? 30;
  t.ok(podGrace > graceS, `the kubelet waits ${podGrace} s > --grace-s ${graceS} s before SIGKILL`);
});
