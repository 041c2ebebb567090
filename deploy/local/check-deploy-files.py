"""Consistency checks across the deployment files that no single linter sees, and the extraction
of each deployment's syncbridge configuration for `syncbridge config check` (deploy/check.sh).

    python check-deploy-files.py REPO_ROOT SCRATCH_DIR

Writes SCRATCH_DIR/{compose,k8s}.toml (the configuration the deployment mounts) and
SCRATCH_DIR/{compose,k8s}.env (the variables its secrets provide, with their example values),
so check.sh can run the real binary's `config check` on exactly what a deployment would read:
a secret the configuration names that the deployment does not provide fails there.
Exits non-zero, naming each problem, when the files disagree.
"""

import os
import re
import sys

import yaml

root, scratch = sys.argv[1], sys.argv[2]
problems = []


def load_all(path):
    with open(os.path.join(root, path)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def metrics_port(toml_text, where):
    m = re.search(r'^\[metrics\]\s*\nlisten\s*=\s*"[^"]*:(\d+)"', toml_text, re.M)
    if not m:
        problems.append(f"{where}: no [metrics] listen (keep /metrics off the public port)")
        return None
    return int(m.group(1))


def env_file(path):
    pairs = {}
    with open(os.path.join(root, path)) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                key, _, value = line.partition("=")
                pairs[key] = value
    return pairs


def write(name, text):
    with open(os.path.join(scratch, name), "w") as f:
        f.write(text)


# --- compose ---------------------------------------------------------------------------------
compose = load_all("deploy/compose/compose.yaml")[0]
services = compose["services"]
with open(os.path.join(root, "deploy/compose", compose["configs"]["syncbridge"]["file"])) as f:
    compose_toml = f.read()
write("compose.toml", compose_toml)
compose_env = env_file("deploy/compose/secrets.env.example")
write("compose.env", "".join(f"{k}={v}\n" for k, v in compose_env.items()))
port = metrics_port(compose_toml, "deploy/compose/syncbridge.toml")

for name, service in services.items():
    for volume in service.get("volumes", []):
        source = volume.split(":")[0]
        if source.startswith("."):
            path = os.path.normpath(os.path.join(root, "deploy/compose", source))
            if not os.path.exists(path):
                problems.append(f"deploy/compose/compose.yaml: {name} mounts {source}, which does not exist")

# --- prometheus: scrapes every syncbridge service on the metrics port, loads the mounted rules ---
prom = load_all("deploy/prometheus/prometheus.yml")[0]
job = next(j for j in prom["scrape_configs"] if j["job_name"] == "syncbridge")
names = {n for sd in job.get("dns_sd_configs", []) for n in sd["names"]}
ports = {sd["port"] for sd in job.get("dns_sd_configs", [])}
roles = {n for n, s in services.items() if "serve" in (s.get("command") or [])}
if names != roles:
    problems.append(f"prometheus.yml scrapes {sorted(names)}, compose runs serve in {sorted(roles)}")
if ports != {port}:
    problems.append(f"prometheus.yml scrapes port {sorted(ports)}, [metrics] listen is {port}")
mounts = {v.split(":")[1] for v in services["prometheus"]["volumes"] if v.startswith(".")}
for rule_file in prom.get("rule_files", []):
    if rule_file not in mounts:
        problems.append(f"prometheus.yml loads {rule_file}, which compose does not mount")

# --- Dockerfile: the HEALTHCHECK asks the metrics port the deployments configure --------------
with open(os.path.join(root, "deploy/docker/Dockerfile")) as f:
    dockerfile = f.read()
m = re.search(r"HEALTHCHECK.*?http://127\.0\.0\.1:(\d+)/healthz", dockerfile, re.S)
if not m or int(m.group(1)) != port:
    problems.append(f"Dockerfile HEALTHCHECK does not ask 127.0.0.1:{port}/healthz")

# --- the image's build context: what the build stage copies is let through by .dockerignore ----
with open(os.path.join(root, ".dockerignore")) as f:
    rules = [l.strip() for l in f if l.strip() and not l.startswith("#")]
if rules[:1] != ["*"]:
    problems.append(".dockerignore is no longer an allow-list starting with `*`")
allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
build_stage = dockerfile.split("\nFROM ")[1]  # the stage after the first FROM
sources = []
for line in build_stage.splitlines():
    words = line.split()
    if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
        sources += [w.rstrip("/") for w in words[1:-1] if not w.startswith("--")]
for source in sources:
    if source not in allowed:
        problems.append(f"the Dockerfile copies {source}, which .dockerignore keeps out of the context")
write("docker-context.txt", "".join(f"{s}\n" for s in sources))

# --- kubernetes ------------------------------------------------------------------------------
k8s = "deploy/k8s"
kustomization = load_all(f"{k8s}/kustomization.yaml")[0]
listed = set(kustomization["resources"])
manifests = {f for f in os.listdir(os.path.join(root, k8s)) if f.endswith(".yaml")}
not_applied = {"kustomization.yaml", "nats-values.yaml", "secret.example.yaml"}
for missing in sorted((manifests - not_applied) - listed):
    problems.append(f"{k8s}/{missing} is not in kustomization.yaml")
for gone in sorted(listed - manifests):
    problems.append(f"kustomization.yaml lists {gone}, which does not exist")

config_map = next(d for d in load_all(f"{k8s}/configmap.yaml") if d["kind"] == "ConfigMap")
k8s_toml = config_map["data"]["syncbridge.toml"]
write("k8s.toml", k8s_toml)
k8s_port = metrics_port(k8s_toml, f"{k8s}/configmap.yaml")
secrets = {d["metadata"]["name"]: d for d in load_all(f"{k8s}/secret.example.yaml")}
k8s_env = dict(secrets["syncbridge-secrets"]["stringData"])

for role in ("ingest", "worker", "poller"):
    deployment = next(d for d in load_all(f"{k8s}/{role}.yaml") if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    where = f"{k8s}/{role}.yaml"
    if container["args"][container["args"].index("--role") + 1] != role:
        problems.append(f"{where}: runs another role")
    if pod["metadata"]["annotations"].get("prometheus.io/port") != str(k8s_port):
        problems.append(f"{where}: prometheus.io/port is not the metrics port {k8s_port}")
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    if named.get("metrics") != k8s_port:
        problems.append(f"{where}: containerPort metrics is not {k8s_port}")
    probes = {"readinessProbe": "/readyz", "livenessProbe": "/healthz"}
    for probe, path in probes.items():
        got = container.get(probe, {}).get("httpGet", {})
        if got.get("path") != path or got.get("port") != "metrics":
            problems.append(f"{where}: {probe} is not {path} on the metrics port")
    for ref in container.get("envFrom", []):
        if ref["secretRef"]["name"] not in secrets:
            problems.append(f"{where}: envFrom names a Secret secret.example.yaml does not define")
    for var in container.get("env", []):
        ref = var.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            secret = secrets.get(ref["name"], {}).get("stringData", {})
            if ref["key"] not in secret:
                problems.append(f"{where}: {var['name']} names {ref['name']}/{ref['key']}, not in secret.example.yaml")
            else:
                k8s_env[var["name"]] = secret[ref["key"]]
write("k8s.env", "".join(f"{k}={v}\n" for k, v in k8s_env.items()))

for problem in problems:
    print(f"deploy/check: {problem}", file=sys.stderr)
sys.exit(1 if problems else 0)
