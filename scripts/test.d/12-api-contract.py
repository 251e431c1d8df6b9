#!/usr/bin/env python3
"""docs/openapi.yaml against the code and the template, by reading their sources:

- routes (method + path): the OpenAPI paths, the submit function's route table
  (functions/submit/src/lib.rs: `ROUTES`, which a Rust test holds the one axum router to), what
  `ccaas-local` serves (functions/local/src/server.rs: its own `/v1` routes plus, when its
  fallback service is `ccaas_submit::router`, the submit routes), and template.yaml's API Gateway routes
  (`RouteKey: GET /v1/tasks/{id}`) must be the same sets; the submit router's 405 `Allow` lists
  (the route table's methods) must name the methods the spec has for that path; every template route that the spec
  secures (a bearer requirement, top-level or per operation) uses the JWT authorizer when
  AuthMode is not off;
- schemas: the fields of the response structs in shared/app/src/view.rs (serde renames, and
  `skip_serializing_if` making a field optional) and of `TaskError` must be the properties of
  the matching OpenAPI schemas, with the same required set, and `Option` fields that are
  always written must allow null; the error body built by `json_error` must be the `Error`
  schema; the wire names of `TaskType`, `Priority` and `Status` must be the spec's enums.

Sources are read as text (no build needed), so the check runs in a second. It first proves it
can fail: each of a list of one-sided changes (to the spec, the code or the template) is applied
in memory and must be reported. Exits 1 listing every difference."""
import copy
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}

# Response struct (shared/app/src/view.rs or shared/domain/src/task.rs) -> its OpenAPI schema,
# as a path into components.schemas.
STRUCT_SCHEMAS = {
    "AcceptedView": ["Accepted"],
    "TaskView": ["Task"],
    "ListView": ["TaskList"],
    "ListItem": ["TaskList", "properties", "collection", "items"],
    "TaskError": ["Task", "properties", "error"],
    "NotifyView": ["Task", "properties", "notify"],
}
ENUM_SCHEMAS = {"TaskType": "TaskType", "Priority": "Priority", "Status": "Status"}


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
        "submit": read("functions/submit/src/lib.rs"),
        "local": read("functions/local/src/server.rs"),
        "view": read("shared/app/src/view.rs"),
        "task": read("shared/domain/src/task.rs"),
    }


def spec_routes(spec):
    return {(m.upper(), p) for p, item in spec["paths"].items() for m in item if m in METHODS}


def route_table(src):
    """The submit crate's `ROUTES` table: path -> its methods. A Rust test
    (functions/submit/src/lib.rs, `the_router_serves_exactly_the_route_table`) holds the axum
    router to this table: each listed method is routed, every other one is a 405 whose `Allow`
    is the list, and other paths are 404."""
    m = re.search(r"pub const ROUTES: &\[\(&str, &\[&str\]\)\] = &\[(.*?)\n\];", src, re.S)
    if not m:
        return {}
    return {path: {x.strip().strip('"') for x in methods.split(",") if x.strip()}
            for path, methods in re.findall(r'\(\s*"(/[^"]*)",\s*&\[([^\]]*)\]\s*\)', m.group(1))}


def submit_routes(src):
    return {(method, path) for path, methods in route_table(src).items() for method in methods}


def submit_allow_lists(src):
    """Path -> the methods its 405 answers name in `Allow` (the route table's, by the Rust test)."""
    return route_table(src)


def local_routes(src, submit):
    own = {(m.upper(), re.sub(r"\{\*?(\w+)\}", r"{\1}", p))
           for p, m in re.findall(r"\.route\(\s*\"([^\"]+)\",\s*(\w+)\(", src)}
    api = {r for r in own if r[1].startswith("/v1")}
    if re.search(r"\.fallback_service\(\s*api\s*\)", src) and "ccaas_submit::router(" in src:
        api |= submit
    return api


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


def rust_structs(src):
    """Struct name -> {wire field: {"optional": bool, "nullable": bool}}."""
    out = {}
    for name, body in re.findall(r"pub struct (\w+)\s*\{(.*?)\n\}", src, re.S):
        fields, attrs = {}, []
        for line in body.splitlines():
            line = line.strip()
            if line.startswith("#["):
                attrs.append(line)
                continue
            m = re.match(r"pub (\w+):\s*(.+?),?$", line)
            if not m:
                continue
            field, ty = m.groups()
            a = " ".join(attrs)
            attrs = []
            if re.search(r"serde\([^)]*\bskip\b(?!_)", a):
                continue
            rename = re.search(r'rename\s*=\s*"([^"]+)"', a)
            skip_if = "skip_serializing_if" in a
            fields[rename.group(1) if rename else field] = {
                "optional": skip_if,
                "nullable": ty.startswith("Option<") and not skip_if,
            }
        out[name] = fields
    return out


def rust_enum_names(src):
    """Enum -> the wire names its as_str returns."""
    out = {}
    for enum, value in re.findall(r"\b(\w+)::\w+\s*=>\s*\"([^\"]+)\"", src):
        out.setdefault(enum, set()).add(value)
    return out


def error_body_fields(src):
    """The keys json_error puts under `error`, and those always there."""
    m = re.search(r"fn json_error\(.*?\n\}", src, re.S)
    if not m:
        return None
    body = m.group(0)
    always = set(re.findall(r'"(\w+)":\s*\w+', re.search(r"json!\(\{(.*?)\}\)", body, re.S).group(1)))
    optional = set(re.findall(r'err\["(\w+)"\]', body))
    return always, optional


def schema_at(spec, path):
    s = spec["components"]["schemas"]
    for p in path:
        s = s[p]
    return s


def allows_null(prop):
    t = prop.get("type")
    return t == "null" or (isinstance(t, list) and "null" in t)


def problems_of(src):
    problems = []
    spec = spec_routes(src["openapi"])
    sub = submit_routes(src["submit"])
    for label, got in (("submit router", sub), ("ccaas-local", local_routes(src["local"], sub)),
                       ("template.yaml", template_routes(src["template"]))):
        if got != spec:
            problems.append(f"routes: {label} != docs/openapi.yaml: only in {label}: {sorted(got - spec)}; "
                            f"only in the spec: {sorted(spec - got)}")
    # A route the spec secures must use the JWT authorizer whenever auth is on.
    for logical, r in src["template"]["Resources"].items():
        if r.get("Type") != "AWS::ApiGatewayV2::Route":
            continue
        p = r["Properties"]
        method, path = p["RouteKey"].split(" ", 1)
        op = src["openapi"]["paths"].get(path, {}).get(method.lower(), {})
        if not any(op.get("security", src["openapi"].get("security", []))):
            continue
        if p.get("AuthorizationType") != {"If": ["AuthOn", "JWT", "NONE"]} or \
                p.get("AuthorizerId") != {"If": ["AuthOn", {"Ref": "ApiAuthorizer"}, {"Ref": "AWS::NoValue"}]}:
            problems.append(f"template.yaml: route {logical} ({p['RouteKey']}) is secured in the spec but does "
                            "not use the JWT authorizer when AuthOn")
    shape = lambda p: re.sub(r"\{\w+\}", "{}", p)  # noqa: E731 (the 405 arms bind `_`)
    for path, allow in submit_allow_lists(src["submit"]).items():
        want = {m for m, p in spec if shape(p) == shape(path)}
        if allow != want:
            problems.append(f"405 Allow for {path} is {sorted(allow)}; the spec has {sorted(want)}")

    structs = rust_structs(src["view"] + "\n" + src["task"])
    for name, path in STRUCT_SCHEMAS.items():
        if name not in structs:
            problems.append(f"schemas: struct {name} not found")
            continue
        fields, schema = structs[name], schema_at(src["openapi"], path)
        props, required = schema.get("properties", {}), set(schema.get("required", []))
        if set(fields) != set(props):
            problems.append(f"schemas: {name} fields {sorted(fields)} != {'.'.join(path)} properties {sorted(props)}")
        want_req = {f for f, x in fields.items() if not x["optional"]}
        if want_req != required:
            problems.append(f"schemas: {name} always writes {sorted(want_req)}; {'.'.join(path)} requires {sorted(required)}")
        for f, x in fields.items():
            if f in props and x["nullable"] and not allows_null(props[f]):
                problems.append(f"schemas: {name}.{f} may be null but {'.'.join(path)}.{f} does not allow null")
            if f in props and not x["nullable"] and allows_null(props[f]):
                problems.append(f"schemas: {name}.{f} is never null but {'.'.join(path)}.{f} allows null")

    enums = rust_enum_names(src["task"])
    for enum, schema in ENUM_SCHEMAS.items():
        spec_values = set(src["openapi"]["components"]["schemas"][schema].get("enum", []))
        if enums.get(enum, set()) != spec_values:
            problems.append(f"enums: {enum} wire names {sorted(enums.get(enum, set()))} != {schema} {sorted(spec_values)}")

    err = error_body_fields(src["submit"])
    e = src["openapi"]["components"]["schemas"]["Error"]
    inner = e["properties"]["error"]
    if err is None:
        problems.append("error body: fn json_error not found in the submit function")
    else:
        always, optional = err
        if e.get("required") != ["error"] or set(inner.get("properties", {})) != always | optional \
                or set(inner.get("required", [])) != always:
            problems.append(f"error body: json_error writes {sorted(always)} + optional {sorted(optional)}; the Error "
                            f"schema has {sorted(inner.get('properties', {}))}, requires {sorted(inner.get('required', []))}")
    return problems


def mutations():
    def spec_drop_path(s):
        del s["openapi"]["paths"]["/v1/tasks/{id}/log"]

    def spec_add_method(s):
        s["openapi"]["paths"]["/v1/tasks/{id}"]["delete"] = {"responses": {"204": {"description": "gone"}}}

    def code_rename_route(s):
        s["submit"] = s["submit"].replace('("/v1/tasks/{id}/log", &["GET"])', '("/v1/tasks/{id}/logs", &["GET"])', 1)

    def local_own_route(s):
        s["local"] = s["local"].replace('.route("/site", get(site_root))', '.route("/site", get(site_root))\n        .route("/v1/health", get(site_root))')

    def local_no_fallback(s):
        s["local"] = s["local"].replace("ccaas_submit::router(", "other::router(")

    def template_drop_route(s):
        res = s["template"]["Resources"]
        del res[next(k for k, r in res.items() if r["Type"] == "AWS::ApiGatewayV2::Route" and r["Properties"]["RouteKey"] == "GET /v1/tasks")]

    def route_without_authorizer(s):
        r = s["template"]["Resources"]["GetTaskLogRoute"]["Properties"]
        r["AuthorizationType"] = "NONE"
        del r["AuthorizerId"]

    def allow_list(s):
        s["submit"] = s["submit"].replace('("/v1/tasks", &["GET", "POST"])', '("/v1/tasks", &["GET"])', 1)

    def struct_add_field(s):
        s["view"] = s["view"].replace("    /// Last change.\n    pub updated: String,", "    /// Last change.\n    pub updated: String,\n    /// New.\n    pub attempts: u32,")

    def struct_rename(s):
        s["view"] = s["view"].replace("    /// Device host.\n    pub device: String,", '    /// Device host.\n    #[serde(rename = "host")]\n    pub device: String,')

    def struct_optional(s):
        s["view"] = s["view"].replace("    /// Modules.\n    pub modules", '    /// Modules.\n    #[serde(skip_serializing_if = "Vec::is_empty")]\n    pub modules')

    def spec_not_nullable(s):
        s["openapi"]["components"]["schemas"]["TaskList"]["properties"]["next"]["type"] = "string"

    def spec_required(s):
        s["openapi"]["components"]["schemas"]["Task"]["required"].append("result")

    def task_error_field(s):
        s["task"] = s["task"].replace("pub struct TaskError {", "pub struct TaskError {\n    /// Retry hint.\n    pub retry: bool,", 1)

    def enum_value(s):
        s["task"] = s["task"].replace('Status::Failed => "failed"', 'Status::Failed => "error"')

    def error_body(s):
        s["submit"] = s["submit"].replace('json!({"code": code, "message": message})', 'json!({"code": code, "message": message, "status": 0})')

    def spec_error_field(s):
        del s["openapi"]["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["field"]

    return [(f.__name__, f) for f in (
        spec_drop_path, spec_add_method, code_rename_route, local_own_route, local_no_fallback,
        template_drop_route, route_without_authorizer, allow_list, struct_add_field, struct_rename, struct_optional,
        spec_not_nullable, spec_required, task_error_field, enum_value, error_body, spec_error_field)]


def main():
    src = load_sources()
    problems = problems_of(src)
    if not problems:
        missed = []
        for label, change in mutations():
            m = copy.deepcopy(src)
            before = copy.deepcopy(m)
            change(m)
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
    print(f"api contract ok: {len(routes)} routes ({', '.join(' '.join(r) for r in routes)}) and "
          f"{len(STRUCT_SCHEMAS)} response schemas, the error body and {len(ENUM_SCHEMAS)} enums agree across "
          "docs/openapi.yaml, the submit router, ccaas-local and template.yaml")


if __name__ == "__main__":
    main()
