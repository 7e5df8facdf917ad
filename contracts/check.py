#!/usr/bin/env python3
"""Checks the MasterDeal contract and instances against it.

Usage:
  check.py spec FILE                              validate an OpenAPI 3.x document
  check.py openapi FILE COMPONENT INSTANCE.json…  validate instances against #/components/schemas/COMPONENT
  check.py schema SCHEMA.json INSTANCE.json…      validate instances against a JSON Schema (relative $refs
                                                  resolve to files beside it)
  check.py events DIR EVENT.json…                 validate event bodies, each against DIR/<its type>.schema.json
  check.py config SCHEMA.json FILE.yaml…           validate YAML configuration files (connectors/, mappings/)
                                                  against a JSON Schema
  check.py signature HEADER BODY_FILE             verify an X-Signature header over a raw event body with the
                                                  secret in $MASTERDEAL_EVENT_SECRET (or the previous one in
                                                  $MASTERDEAL_EVENT_SECRET_PREVIOUS), tolerance 300 s

Exit status: 0 valid, 1 invalid (each problem is printed), 2 usage error or a missing Python package.
"""

import hashlib
import hmac
import json
import os
import sys
import time
from pathlib import Path

PACKAGES = {"jsonschema": "jsonschema", "referencing": "jsonschema",
            "openapi_spec_validator": "openapi-spec-validator", "yaml": "PyYAML"}
NEEDS = {"spec": ["jsonschema", "referencing", "openapi_spec_validator", "yaml"],
         "openapi": ["jsonschema", "referencing", "yaml"],
         "schema": ["jsonschema", "referencing"],
         "events": ["jsonschema", "referencing"],
         "config": ["jsonschema", "referencing", "yaml"],
         "signature": []}
TOLERANCE_SECONDS = 300


def require_modules(command):
    import importlib.util
    missing = []
    for module in NEEDS[command]:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append((module, PACKAGES[module]))
    if missing:
        for module, package in missing:
            print(f"check.py: the Python module '{module}' is missing; install it with: pip install {package}",
                  file=sys.stderr)
        sys.exit(2)


def usage(message):
    print(f"check.py: {message}\n{__doc__}", file=sys.stderr)
    sys.exit(2)


def load_json(path):
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except OSError as e:
        usage(f"cannot read {path}: {e.strerror}")
    except json.JSONDecodeError as e:
        print(f"FAIL {path}: not valid JSON ({e})")
        return None


def load_yaml(path):
    import yaml

    class Loader(yaml.SafeLoader):
        """Keeps timestamps as strings, as JSON would."""

    Loader.yaml_implicit_resolvers = {
        key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    try:
        with open(path, "rb") as f:
            return yaml.load(f, Loader=Loader)
    except OSError as e:
        usage(f"cannot read {path}: {e.strerror}")
    except yaml.YAMLError as e:
        print(f"FAIL {path}: not valid YAML ({e})")
        sys.exit(1)


def file_retriever(directory):
    """Resolves file:// URIs, and any other URI by its last path segment to a file in `directory`."""
    from referencing import Resource
    from referencing.exceptions import NoSuchResource
    from referencing.jsonschema import DRAFT202012

    def retrieve(uri):
        path = Path(uri[len("file://"):]) if uri.startswith("file://") else Path(directory) / uri.rsplit("/", 1)[-1]
        if not path.is_file():
            raise NoSuchResource(ref=uri)
        contents = json.loads(path.read_text(encoding="utf-8")) if path.suffix == ".json" else load_yaml(path)
        return Resource.from_contents(contents, default_specification=DRAFT202012)
    return retrieve


def validate_instances(validator, instance_paths, loader=None):
    failures = 0
    for path in instance_paths:
        instance = (loader or load_json)(path)
        if instance is None:
            failures += 1
            continue
        try:
            errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        except Exception as e:  # an unresolvable $ref in the schema
            print(f"FAIL {path}: the schema cannot be used: {type(e).__name__}: {str(e)[:300]}")
            failures += 1
            continue
        if errors:
            failures += 1
            for error in errors:
                where = "/" + "/".join(str(p) for p in error.absolute_path)
                print(f"FAIL {path}: at {where}: {error.message}")
        else:
            print(f"ok   {path}")
    return failures


def iter_refs(node, where="#"):
    """Yields (location, $ref) for every reference in a document."""
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield where, node["$ref"]
        for key, value in node.items():
            yield from iter_refs(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from iter_refs(value, f"{where}/{index}")


def unresolved_refs(document, path, seen=None):
    """Every $ref (internal, or to a file beside the document, followed recursively) that leads nowhere."""
    from jsonschema import exceptions, validators
    seen = set() if seen is None else seen
    seen.add(path)
    problems = []
    for where, ref in iter_refs(document):
        target, _, fragment = ref.partition("#")
        node = document
        if target:
            file = (path.parent / target).resolve()
            if not file.is_file():
                problems.append(f"{where}: $ref {ref} names a missing file")
                continue
            node = load_json(file) if file.suffix == ".json" else load_yaml(file)
            if file.suffix == ".json":
                try:
                    validators.validator_for(node, default=validators.Draft202012Validator).check_schema(node)
                except exceptions.SchemaError as e:
                    problems.append(f"{where}: $ref {ref} is not a valid JSON Schema: {e.message}")
                    continue
            if file not in seen:
                problems += [f"{file.name} {problem}" for problem in unresolved_refs(node, file, seen)]
        for part in [p for p in fragment.split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                problems.append(f"{where}: $ref {ref} points nowhere")
                break
    return problems


def command_spec(args):
    if len(args) != 1:
        usage("spec takes one FILE")
    from openapi_spec_validator.shortcuts import get_validator_cls
    from jsonschema_path import SchemaPath
    path = Path(args[0]).resolve()
    document = load_yaml(path)
    if not isinstance(document, dict):
        print(f"FAIL {path}: not an OpenAPI document")
        return 1
    try:
        cls = get_validator_cls(document)
    except Exception:
        print(f"FAIL {path}: no supported 'openapi' version")
        return 1
    try:
        errors = list(cls(SchemaPath.from_dict(document, base_uri=path.as_uri())).iter_errors())
    except Exception as e:  # an unresolvable $ref surfaces as an exception, not as an error
        message = str(e).split(" within ", 1)[0][:300]
        print(f"FAIL {path}: {type(e).__name__}: {message}")
        return 1
    errors = [getattr(error, "message", str(error)) for error in errors] + unresolved_refs(document, path)
    for error in errors:
        print(f"FAIL {path}: {error}")
    if errors:
        return 1
    print(f"ok   {path} (OpenAPI {document.get('openapi')})")
    return 0


def command_openapi(args):
    if len(args) < 3:
        usage("openapi takes FILE COMPONENT INSTANCE.json…")
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012
    path = Path(args[0]).resolve()
    document = load_yaml(path)
    component = args[1]
    schemas = (document or {}).get("components", {}).get("schemas", {})
    if component not in schemas:
        print(f"FAIL {path}: no component schema '{component}' (have: {', '.join(sorted(schemas))})")
        return 1
    base = path.as_uri()
    registry = Registry(retrieve=file_retriever(path.parent)).with_resource(
        base, Resource.from_contents(document, default_specification=DRAFT202012))
    validator = Draft202012Validator({"$ref": f"{base}#/components/schemas/{component}"}, registry=registry,
                                     format_checker=Draft202012Validator.FORMAT_CHECKER)
    return 1 if validate_instances(validator, args[2:]) else 0


def schema_validator(path):
    """A validator for the JSON Schema at `path` whose relative $refs resolve to files beside it, or None."""
    from jsonschema import exceptions, validators
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012
    schema = load_json(path)
    if schema is None:
        return None
    cls = validators.validator_for(schema, default=validators.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except exceptions.SchemaError as e:
        print(f"FAIL {path}: not a valid JSON Schema: {e.message}")
        return None
    resources = []
    for sibling in sorted(path.parent.glob("*.json")):
        try:
            contents = json.loads(sibling.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            continue
        resource = Resource.from_contents(contents, default_specification=DRAFT202012)
        resources.append((sibling.as_uri(), resource))
        if isinstance(contents, dict) and "$id" in contents:
            resources.append((contents["$id"], resource))
    registry = Registry(retrieve=file_retriever(path.parent)).with_resources(resources)
    root = schema if "$id" in schema else {**schema, "$id": path.as_uri()}
    return cls(root, registry=registry, format_checker=cls.FORMAT_CHECKER)


def command_schema(args):
    if len(args) < 2:
        usage("schema takes SCHEMA.json INSTANCE.json…")
    validator = schema_validator(Path(args[0]).resolve())
    if validator is None:
        return 1
    return 1 if validate_instances(validator, args[1:]) else 0


def command_config(args):
    if len(args) < 2:
        usage("config takes SCHEMA.json FILE.yaml…")
    validator = schema_validator(Path(args[0]).resolve())
    if validator is None:
        return 1
    return 1 if validate_instances(validator, args[1:], loader=lambda p: load_yaml(Path(p))) else 0


def command_events(args):
    if len(args) < 2:
        usage("events takes DIR EVENT.json…")
    directory = Path(args[0]).resolve()
    failures = 0
    for instance_path in args[1:]:
        event = load_json(instance_path)
        kind = event.get("type") if isinstance(event, dict) else None
        schema_path = directory / f"{kind}.schema.json"
        if not isinstance(kind, str) or not kind.isalnum() or not schema_path.is_file():
            print(f"FAIL {instance_path}: no event schema for type {kind!r} in {directory}")
            failures += 1
            continue
        validator = schema_validator(schema_path)
        if validator is None or validate_instances(validator, [instance_path]):
            failures += 1
    return 1 if failures else 0


def command_signature(args):
    if len(args) != 2:
        usage("signature takes HEADER BODY_FILE")
    secrets = [s for s in (os.environ.get("MASTERDEAL_EVENT_SECRET"),
                           os.environ.get("MASTERDEAL_EVENT_SECRET_PREVIOUS")) if s]
    if not secrets:
        usage("set MASTERDEAL_EVENT_SECRET (and optionally MASTERDEAL_EVENT_SECRET_PREVIOUS)")
    header, body_path = args
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    if "t" not in parts or "v1" not in parts or not parts["t"].isdigit():
        print("FAIL signature: the header is not t=<unix seconds>,v1=<hex>")
        return 1
    body = Path(body_path).read_bytes()
    signed = parts["t"].encode() + b"." + body
    if abs(time.time() - int(parts["t"])) > TOLERANCE_SECONDS:
        print(f"FAIL signature: t is more than {TOLERANCE_SECONDS} s away from now")
        return 1
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, parts["v1"]):
            print("ok   signature")
            return 0
    print("FAIL signature: v1 does not match the body under the current or the previous secret")
    return 1


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        usage("a command is required")
    commands = {"spec": command_spec, "openapi": command_openapi, "schema": command_schema,
                "events": command_events, "config": command_config, "signature": command_signature}
    if argv[1] not in commands:
        usage(f"unknown command '{argv[1]}'")
    require_modules(argv[1])
    try:
        return commands[argv[1]](argv[2:])
    except ImportError as e:  # present but broken (a missing dependency of a dependency)
        name = (e.name or "").split(".")[0]
        print(f"check.py: a Python module cannot be imported ({e}); reinstall with: pip install "
              f"{PACKAGES.get(name, 'jsonschema openapi-spec-validator PyYAML')}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
