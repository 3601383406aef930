"""Turns one container of the Deployment that `gemmactl render` wrote into `docker run` arguments, so
scripts/test-image runs the image exactly as the rendered pod would: its args and env, the pod's and the
container's securityContext, its resource limits and its volumes.

    python pod_docker_args.py RENDERED.yaml CONTAINER VOLUME=DOCKER_VOLUME...

Prints bash assignments (quoted with shlex) for `eval`: options (docker run options), args (the
container's arguments), grace (terminationGracePeriodSeconds), port (its containerPort). Env taken from
a Secret (secretKeyRef) is passed through from the caller's environment under the same name. Anything
this translation does not know is an error rather than silently dropped.
"""
import re
import shlex
import sys

import yaml


def fail(message):
    sys.exit(f"pod_docker_args: {message}")


def memory_bytes(quantity):
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9}
    match = re.fullmatch(r"(\d+)([A-Za-z]*)", str(quantity))
    if not match or (match[2] and match[2] not in units):
        fail(f"memory quantity {quantity!r} is not understood")
    return int(match[1]) * units.get(match[2], 1)


def cpus(quantity):
    text = str(quantity)
    return f"{int(text[:-1]) / 1000:g}" if text.endswith("m") else f"{float(text):g}"


def main():
    path, wanted, *volume_pairs = sys.argv[1:]
    docker_volumes = dict(pair.split("=", 1) for pair in volume_pairs)
    with open(path) as handle:
        documents = [doc for doc in yaml.safe_load_all(handle) if doc]
    deployments = [doc for doc in documents if doc.get("kind") == "Deployment"]
    if len(deployments) != 1:
        fail(f"{path} holds {len(deployments)} Deployments, expected 1")
    pod = deployments[0]["spec"]["template"]["spec"]
    containers = pod.get("initContainers", []) + pod["containers"]
    matches = [c for c in containers if c["name"] == wanted]
    if not matches:
        fail(f"no container {wanted!r} in the Deployment (have {[c['name'] for c in containers]})")
    container = matches[0]
    if "command" in container:
        fail("the container overrides the image's command; this translation expects args only")

    options = []
    pod_security = pod.get("securityContext", {})
    security = container.get("securityContext", {})
    user = security.get("runAsUser", pod_security.get("runAsUser"))
    group = security.get("runAsGroup", pod_security.get("runAsGroup"))
    if user is None or group is None:
        fail("no runAsUser/runAsGroup in the pod or container securityContext")
    if security.get("runAsNonRoot", pod_security.get("runAsNonRoot")) and user == 0:
        fail("runAsNonRoot with runAsUser 0")
    options += ["--user", f"{user}:{group}"]
    if "fsGroup" in pod_security:
        options += ["--group-add", str(pod_security["fsGroup"])]
    if security.get("readOnlyRootFilesystem"):
        options.append("--read-only")
    if security.get("allowPrivilegeEscalation") is False:
        options += ["--security-opt", "no-new-privileges"]
    for capability in security.get("capabilities", {}).get("drop", []):
        options += ["--cap-drop", capability]
    for capability in security.get("capabilities", {}).get("add", []):
        options += ["--cap-add", capability]

    limits = container.get("resources", {}).get("limits", {})
    if "memory" not in limits or "cpu" not in limits:
        fail(f"container {wanted!r} has no memory and cpu limits")
    options += ["--memory", str(memory_bytes(limits["memory"])), "--cpus", cpus(limits["cpu"])]

    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        volume = volumes.get(mount["name"])
        if volume is None:
            fail(f"volumeMount {mount['name']!r} names no pod volume")
        if "emptyDir" in volume:
            size = volume["emptyDir"].get("sizeLimit")
            tmpfs = mount["mountPath"] + ":rw,mode=1777" + (f",size={memory_bytes(size)}" if size else "")
            options += ["--tmpfs", tmpfs]
        elif "persistentVolumeClaim" in volume:
            if mount["name"] not in docker_volumes:
                fail(f"no docker volume given for the claim mounted as {mount['name']!r} (pass {mount['name']}=VOLUME)")
            options += ["--mount", f"type=volume,source={docker_volumes[mount['name']]},target={mount['mountPath']}"]
        else:
            fail(f"volume {mount['name']!r} is neither an emptyDir nor a claim")

    for variable in container.get("env", []):
        if "value" in variable:
            options += ["--env", f"{variable['name']}={variable['value']}"]
        elif "secretKeyRef" in variable.get("valueFrom", {}):
            options += ["--env", variable["name"]]
        else:
            fail(f"env {variable['name']!r} comes from neither a value nor a Secret")

    ports = [port["containerPort"] for port in container.get("ports", [])]
    print(f"options=({' '.join(shlex.quote(o) for o in options)})")
    print(f"args=({' '.join(shlex.quote(str(a)) for a in container.get('args', []))})")
    print(f"grace={int(pod.get('terminationGracePeriodSeconds', 30))}")
    print(f"port={ports[0] if ports else ''}")


main()
