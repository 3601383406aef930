"""Validates rendered manifests: built-in kinds with kubernetes-validate (1.37, strict), custom resources
with jsonschema against CRD schemas (unknown fields rejected, as the API server's structural pruning would
drop them), plus the CRDs' CEL rules (x-kubernetes-validations) that apply to what gemmactl renders.

usage: validate_manifests.py SCHEMA_DIR FILE...   (prints one line per object and `N passed, N failed`)
"""
import json
import os
import re
import sys

import jsonschema
import kubernetes_validate
import yaml

K8S_VERSION = "1.37.0"
CUSTOM = {
    ("external-secrets.io/v1", "ExternalSecret"): "external-secrets.io_ExternalSecret_v1.json",
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "gateway.networking.k8s.io_HTTPRoute_v1.json",
    ("agentgateway.dev/v1alpha1", "AgentgatewayBackend"): "agentgateway.dev_AgentgatewayBackend_v1alpha1.json",
    ("inference.networking.k8s.io/v1", "InferencePool"): "inference.networking.k8s.io_InferencePool_v1.json",
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh_ScaledObject_v1alpha1.json",
}
METADATA = {  # CRD schemas leave metadata open; the API server checks names like this.
    "type": "object",
    "required": ["name", "namespace"],
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", "maxLength": 253},
        "namespace": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
        "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 63}},
    },
    "additionalProperties": False,
}


def strict(schema):
    """Objects with properties and no additionalProperties reject unknown fields (structural CRDs)."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" and "properties" in schema and "additionalProperties" not in schema \
                and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema = dict(schema, additionalProperties=False)
        return {k: strict(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def duration_ms(text):
    units = {"h": 3600000, "m": 60000, "s": 1000, "ms": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"([0-9]+)(ms|h|m|s)", text))


def cel_rules(obj):
    """The CEL rules of the CRDs that can bite what gemmactl renders, evaluated by hand."""
    kind, spec, errors = obj["kind"], obj.get("spec", {}), []
    if kind == "AgentgatewayBackend":
        kinds = [k for k in ("ai", "static", "dynamicForwardProxy", "mcp", "aws", "a2a") if k in spec]
        if len(kinds) != 1:
            errors.append("exactly one of ai/static/dynamicForwardProxy/mcp/aws/a2a must be set")
        ai = spec.get("ai", {})
        if ("provider" in ai) == ("groups" in ai):
            errors.append("exactly one of ai.provider, ai.groups must be set")
        provider = ai.get("provider", {})
        if ("host" in provider) != ("port" in provider):
            errors.append("provider host and port must be set together")
        names = ("openai", "azureopenai", "azure", "anthropic", "gemini", "vertexai", "bedrock", "custom")
        if sum(n in provider for n in names) != 1:
            errors.append("exactly one provider kind must be set")
        if "path" in provider and "pathPrefix" in provider:
            errors.append("path and pathPrefix are mutually exclusive")
        policies = spec.get("policies")
        if policies is not None and not policies:
            errors.append("policies: at least one policy must be set")
        tls = (policies or {}).get("tls", {})
        if "insecureSkipVerify" in tls and "verifySubjectAltNames" in tls:
            errors.append("policies.tls: insecureSkipVerify and verifySubjectAltNames may not be set together")
    if kind == "HTTPRoute":
        for rule in spec.get("rules", []):
            timeouts = rule.get("timeouts", {})
            if "request" in timeouts and "backendRequest" in timeouts and duration_ms(timeouts["request"]) != 0 \
                    and duration_ms(timeouts["backendRequest"]) > duration_ms(timeouts["request"]):
                errors.append("backendRequest timeout cannot be longer than request timeout")
            for ref in rule.get("backendRefs", []):
                if ref.get("group", "") == "" and ref.get("kind", "Service") == "Service" and "port" not in ref:
                    errors.append("a Service backendRef needs a port")
        for ref in spec.get("parentRefs", []):
            if ref.get("group", "gateway.networking.k8s.io") != "gateway.networking.k8s.io" or ref.get("kind", "Gateway") != "Gateway":
                errors.append("parentRef must be a Gateway")
    if kind == "InferencePool":
        picker = spec.get("endpointPickerRef", {})
        if picker.get("kind", "Service") == "Service" and "port" not in picker:
            errors.append("endpointPickerRef: port is required when kind is 'Service' or unspecified")
        numbers = [p.get("number") for p in spec.get("targetPorts", [])]
        if len(numbers) != len(set(numbers)):
            errors.append("targetPorts: port number must be unique")
    if kind == "ScaledObject":
        if "minReplicaCount" in spec and spec["minReplicaCount"] > spec.get("maxReplicaCount", 100):
            errors.append("minReplicaCount must be less than or equal to maxReplicaCount")
    if kind == "ExternalSecret":
        if not spec.get("data") and not spec.get("dataFrom"):
            errors.append("data or dataFrom must be set")
    return errors


def main():
    schema_dir, files = sys.argv[1], sys.argv[2:]
    validators = {}
    for key, name in CUSTOM.items():
        schema = strict(json.load(open(os.path.join(schema_dir, name))))
        schema["properties"]["metadata"] = METADATA
        schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata", "spec"})
        validators[key] = jsonschema.Draft202012Validator(schema)
    passed = failed = 0
    for path in files:
        for obj in yaml.safe_load_all(open(path)):
            if obj is None:
                continue
            label = "%s: %s/%s" % (os.path.basename(path), obj.get("kind"), obj.get("metadata", {}).get("name"))
            key = (obj.get("apiVersion"), obj.get("kind"))
            try:
                if key in validators:
                    errors = [("%s: %s" % ("/".join(map(str, e.absolute_path)), e.message)) for e in validators[key].iter_errors(obj)]
                    errors += cel_rules(obj)
                else:
                    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
                    errors = []
            except kubernetes_validate.ValidationError as e:
                errors = ["%s: %s" % ("/".join(map(str, e.absolute_path)), e.message)]
            except kubernetes_validate.SchemaNotFoundError as e:
                errors = ["no schema: %s" % e.message]
            if errors:
                failed += 1
                print("FAIL %s" % label)
                for error in errors:
                    print("     %s" % error)
            else:
                passed += 1
                print("ok   %s" % label)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed or not passed else 0)


if __name__ == "__main__":
    main()
