#!/usr/bin/env python3
"""template.yaml's API Gateway routes against docs/openapi.yaml: what no Rust test can see.

docs/openapi.yaml is generated from the code (functions/submit/src/openapi.rs), and Rust tests
hold it there: `the_committed_openapi_is_what_the_code_generates` (the file is the code's
document), `the_openapi_has_exactly_the_operations_of_the_route_table` (its paths and methods
are `ccaas_submit::ROUTES`, which `the_router_serves_exactly_the_route_table` holds the axum
router to), and the schema tests beside them. What is left for this check is the template:

- routes: template.yaml's API Gateway routes (`RouteKey: GET /v1/tasks/{id}`, and any SAM
  `HttpApi` events) must be the spec's operations (method + path), no more and no fewer;
- auth: every template route whose operation the spec secures (a bearer requirement, top-level
  or per operation) must use the JWT authorizer whenever AuthMode is not off
  (`AuthorizationType: !If [AuthOn, JWT, NONE]` with `AuthorizerId: !If [AuthOn, !Ref
  ApiAuthorizer, ...]`).

It first proves it can fail: each of a list of one-sided changes (to the spec or the template)
is applied in memory and must be reported. Exits 1 listing every difference."""
import copy
import os
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace", "query"}
JWT_WHEN_AUTH_ON = {"If": ["AuthOn", "JWT", "NONE"]}
AUTHORIZER_WHEN_AUTH_ON = {"If": ["AuthOn", {"Ref": "ApiAuthorizer"}, {"Ref": "AWS::NoValue"}]}


class CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}


CfnLoader.add_multi_constructor("!", _tag)


def read(rel):
    with open(os.path.join(ROOT, rel)) as f:
        return f.read()


def load_sources():
    return {
        "openapi": yaml.safe_load(read("docs/openapi.yaml")),
        "template": yaml.load(read("template.yaml"), Loader=CfnLoader),
    }


def spec_routes(spec):
    return {(m.upper(), p) for p, item in spec["paths"].items() for m in item if m in METHODS}


def template_routes(t):
    out = set()
    for r in t["Resources"].values():
        if r.get("Type") == "AWS::ApiGatewayV2::Route":
            method, path = r["Properties"]["RouteKey"].split(" ", 1)
            out.add((method, path))
        if r.get("Type") == "AWS::Serverless::Function":
            for e in (r.get("Properties") or {}).get("Events", {}).values():
                if e.get("Type") in ("HttpApi", "Api"):
                    out.add((e["Properties"]["Method"].upper(), e["Properties"]["Path"]))
    return out


def secured(spec, method, path):
    op = spec["paths"].get(path, {}).get(method.lower(), {})
    return any(op.get("security", spec.get("security", [])))


def problems_of(src):
    problems = []
    spec, template = spec_routes(src["openapi"]), template_routes(src["template"])
    if template != spec:
        problems.append(f"routes: template.yaml != docs/openapi.yaml: only in the template: "
                        f"{sorted(template - spec)}; only in the spec: {sorted(spec - template)}")
    for logical, r in src["template"]["Resources"].items():
        if r.get("Type") != "AWS::ApiGatewayV2::Route":
            continue
        p = r["Properties"]
        method, path = p["RouteKey"].split(" ", 1)
        if not secured(src["openapi"], method, path):
            continue
        if p.get("AuthorizationType") != JWT_WHEN_AUTH_ON or p.get("AuthorizerId") != AUTHORIZER_WHEN_AUTH_ON:
            problems.append(f"template.yaml: route {logical} ({p['RouteKey']}) is secured in the spec but does "
                            "not use the JWT authorizer when AuthOn")
    return problems


def mutations():
    def spec_drop_path(s):
        del s["openapi"]["paths"]["/v1/tasks/{id}/log"]

    def spec_add_method(s):
        s["openapi"]["paths"]["/v1/devices"]["post"] = {"responses": {"201": {"description": "made"}}}

    def template_drop_route(s):
        res = s["template"]["Resources"]
        del res[next(k for k, r in res.items() if r["Type"] == "AWS::ApiGatewayV2::Route"
                     and r["Properties"]["RouteKey"] == "GET /v1/tasks")]

    def template_rename_route(s):
        r = s["template"]["Resources"]["GetTaskLogRoute"]["Properties"]
        r["RouteKey"] = "GET /v1/tasks/{id}/logs"

    def route_without_authorizer(s):
        r = s["template"]["Resources"]["GetTaskLogRoute"]["Properties"]
        r["AuthorizationType"] = "NONE"
        del r["AuthorizerId"]

    def route_jwt_always_without_authorizer_id(s):
        r = s["template"]["Resources"]["SubmitTaskRoute"]["Properties"]
        r["AuthorizationType"] = "JWT"

    return [(f.__name__, f) for f in (
        spec_drop_path, spec_add_method, template_drop_route, template_rename_route,
        route_without_authorizer, route_jwt_always_without_authorizer_id)]


def main():
    src = load_sources()
    problems = problems_of(src)
    if not problems:
        missed = []
        for label, change in mutations():
            m = copy.deepcopy(src)
            before = copy.deepcopy(m)
            try:
                change(m)
            except (KeyError, StopIteration):
                missed.append(f"{label} (the change no longer applies: update the self-check)")
                continue
            if m == before:
                missed.append(f"{label} (the change no longer applies: update the self-check)")
            elif not problems_of(m):
                missed.append(label)
        if missed:
            problems.append(f"self-check: these one-sided changes went unnoticed: {missed}")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    routes = sorted(spec_routes(src["openapi"]))
    print(f"self-check ok: {len(mutations())} one-sided changes are each reported")
    print(f"api contract ok: template.yaml routes the {len(routes)} operations of docs/openapi.yaml "
          f"({', '.join(' '.join(r) for r in routes)}), each behind the JWT authorizer when auth is on")


if __name__ == "__main__":
    main()
