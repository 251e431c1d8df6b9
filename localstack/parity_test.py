#!/usr/bin/env python3
"""Checks that template.yaml, localstack/resources.json and the resources that
localstack/up created on the running emulator agree: table names, env vars, keys, GSIs, TTL,
SSE and PITR; FIFO queues, their DLQs, maxReceiveCount, visibility and SSE; the bucket, its
website config, its public keys and its lifecycle rules; the KMS key that seals the credentials
in task messages (its alias, env var, rotation, symmetric encrypt/decrypt, enabled). Also
checks rules of the template alone (processor timeout below visibility / 6, the event source
mappings, the canary deployments and their alarms, the alarms on DLQs and functions, env vars
the config reads, the outputs, exactly one KMS key with rotation, an alias and the account's
default key policy, the submit function may GenerateDataKey and the processor Decrypt with it,
each only under the sealer's encryption context; no SAM S3 or KMS policy templates, bucket
grants by prefix: submit reads logs/ only, the processor cannot write or delete builds/; the
report site private at the defaults and opened only by SitePublic or SiteAllowedCidrs; the
processor's ephemeral storage fits the archive caps read from the code, and its memory the
unpack budget by the rule measured with bench/session-scale.sh; search: SearchBackend's values
are the ones the submit config parses, `none` creates no stream, indexer or alarm of it and
passes CCAAS_SEARCH=none, the indexer is the single writer on the tasks table's NEW_IMAGE
stream with bisection, a retry cap and an on-failure destination, it reads tasks only and
writes only index/search/, the submit function only reads index/, and no bucket policy ever
makes index/ public), on the
template as SAM translates it when aws-sam-translator is installed (every function gets the key
from Globals; the roles hold kms:GenerateDataKey / kms:Decrypt on it), and samconfig.toml's deploy
defaults.

Before all that it proves that it can fail: each of a list of one-sided changes to the
template, and to resources.json, is applied in memory and must be reported; and a key alias
the emulator lacks must be reported. Exits 1 listing every difference."""
import copy
import json
import os
import re
import sys

import boto3
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ACCOUNT, REGION = "123456789012", "us-east-1"
PUBLIC_ACTION = "s3:GetObject"
# The queue key: the one kind of KMS key the template and localstack/up create.
KEY_SPEC, KEY_USAGE = "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"
# Who may do what with the queue key: the submit function seals each message under a fresh
# data key (GenerateDataKey; KMS Encrypt alone takes 4 KiB, a private key may be 16 KiB), the
# processor decrypts that data key.
KEY_USERS = {"SubmitFunction": "kms:GenerateDataKey",
             "ProcessorFunction": "kms:Decrypt"}
# The SAM policy templates that grant one KMS action on a KeyId.
KMS_TEMPLATES = {"KMSEncryptPolicy": "kms:Encrypt", "KMSDecryptPolicy": "kms:Decrypt"}
# SAM's S3 policy templates: each grants whole-bucket access, wider than any function needs.
S3_TEMPLATES = ("S3ReadPolicy", "S3CrudPolicy", "S3WritePolicy", "S3FullAccessPolicy")
# What each function may do with which keys of the bucket, probed with one key per prefix:
# (function, action, key, allowed). The submit function reads logs and coverage indexes only;
# the processor may
# read builds/ but neither overwrite nor delete them.
BUCKET_GRANTS = [
    ("SubmitFunction", "s3:GetObject", "logs/01ARZ3NDEKTSV4RRFFQ69G5FAV.jsonl", True),
    *[("SubmitFunction", a, k, False)
      for a in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")
      for k in ("raw/x/gcda.tar.gz", "builds/b/notes.tar.gz", "reports/x/index.html", "site/reports/x", "index.html")],
    ("SubmitFunction", "s3:PutObject", "logs/x.jsonl", False),
    ("SubmitFunction", "s3:GetObject", "index/coverage/17.1.0-0.0.1/01ARZ3NDEKTSV4RRFFQ69G5FAV.idx", True),
    ("SubmitFunction", "s3:GetObject", "index/latest.json", True),
    ("SubmitFunction", "s3:PutObject", "index/coverage/b/x.idx", False),
    ("ProcessorFunction", "s3:PutObject", "index/coverage/b/x.idx", True),
    ("ProcessorFunction", "s3:GetObject", "index/latest/10.0.0.1:22.json", True),
    ("SubmitFunction", "s3:DeleteObject", "logs/x.jsonl", False),
    ("ProcessorFunction", "s3:GetObject", "builds/b/notes.tar.gz", True),
    ("ProcessorFunction", "s3:PutObject", "raw/x/gcda.tar.gz", True),
    ("ProcessorFunction", "s3:PutObject", "reports/x/index.html", True),
    ("ProcessorFunction", "s3:DeleteObject", "site/reports/x/1-2-3-4-5-6", True),
    ("ProcessorFunction", "s3:DeleteObject", "builds/b/notes.tar.gz", False),
    ("ProcessorFunction", "s3:DeleteObject", "builds/b/sources.tar.gz", False),
    ("ProcessorFunction", "s3:PutObject", "builds/b/notes.tar.gz", False),
    # Search: the submit function reads the index's files; the indexer alone writes them and
    # reads task logs, nothing else of the bucket.
    ("SubmitFunction", "s3:GetObject", "index/search/meta.json", True),
    *[("SubmitFunction", a, "index/search/meta.json", False) for a in ("s3:PutObject", "s3:DeleteObject")],
    *[("IndexerFunction", a, "index/search/0f1e2d3c4b5a69788796a5b4c3d2e1f0.idx", True)
      for a in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")],
    ("IndexerFunction", "s3:GetObject", "logs/01ARZ3NDEKTSV4RRFFQ69G5FAV.jsonl", True),
    *[("IndexerFunction", a, k, False)
      for a in ("s3:PutObject", "s3:DeleteObject")
      for k in ("logs/x.jsonl", "index/coverage/b/x.idx", "index/latest.json", "reports/x/index.html", "index.html")],
    *[("IndexerFunction", "s3:GetObject", k, False)
      for k in ("raw/x/gcda.tar.gz", "builds/b/notes.tar.gz", "index/coverage/b/x.idx")],
]
# Keys of the bucket's private index/ (the coverage indexes, the search index's files) that no
# bucket policy may make public, whatever the site's parameters.
PRIVATE_INDEX_KEYS = ("index/search/meta.json", "index/coverage/b/01ARZ3NDEKTSV4RRFFQ69G5FAV.idx", "index/latest.json")


def kms_context_key():
    """The encryption context key the sealer uses (`CONTEXT_KEY` in the crate that holds
    kms.rs), read from the code so the template's conditions follow it."""
    import glob
    paths = [p for top in ("shared", "functions")
             for p in glob.glob(os.path.join(ROOT, top, "**", "kms.rs"), recursive=True)]
    for path in sorted(paths):
        with open(path) as f:
            m = re.search(r'CONTEXT_KEY:\s*&str\s*=\s*"([^"]+)"', f.read())
        if m:
            return m.group(1)
    return None


def policies_allow(pols, action, key):
    """Whether a function's SAM Policies allow `action` on the key: a policy template for it,
    or an inline statement."""
    for x in pols:
        if not isinstance(x, dict):
            continue
        for name, want in KMS_TEMPLATES.items():
            if want == action and ref_target((x.get(name) or {}).get("KeyId")) == key:
                return True
        for st in x.get("Statement") or []:
            acts = st.get("Action")
            acts = acts if isinstance(acts, list) else [acts]
            if st.get("Effect") == "Allow" and action in acts and refers_to(st.get("Resource"), key):
                return True
    return False


class CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {suffix: value}


CfnLoader.add_multi_constructor("!", _tag)


def load_template(path=os.path.join(ROOT, "template.yaml")):
    with open(path) as f:
        return yaml.load(f, Loader=CfnLoader)


def load_resources():
    with open(os.path.join(HERE, "resources.json")) as f:
        return json.load(f)


def resolve(v, params):
    """Resolves !Sub and !Ref of parameters (with their defaults) and pseudo parameters;
    other intrinsics stay opaque."""
    pseudo = {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION}
    if isinstance(v, dict) and "Sub" in v and isinstance(v["Sub"], str):
        def rep(m):
            key = m.group(1)
            return pseudo.get(key, params.get(key, m.group(0)))
        return re.sub(r"\$\{([^}]+)\}", rep, v["Sub"])
    if isinstance(v, dict) and "Ref" in v and v["Ref"] in params:
        return params[v["Ref"]]
    return v


def ref_target(v):
    """The logical id a !Ref or !GetAtt points at, else None."""
    if isinstance(v, dict):
        if "Ref" in v:
            return v["Ref"]
        if "GetAtt" in v:
            return v["GetAtt"].split(".")[0]
    return None


def eval_condition(t, name, params):
    """Whether the template's condition `name` holds for `params` (parameter values as
    strings; a CommaDelimitedList as its comma-joined text)."""
    conds = t.get("Conditions", {})

    def val(v):
        if isinstance(v, dict) and len(v) == 1:
            (k, x), = v.items()
            if k == "Ref":
                return params.get(x, x)
            if k == "Join":
                sep, items = x
                items = val(items)
                return sep.join(val(i) for i in items) if isinstance(items, list) else items
        return v

    def ev(v):
        (k, x), = v.items()
        if k == "Condition":
            return ev(conds[x])
        if k == "Equals":
            return val(x[0]) == val(x[1])
        if k == "Not":
            return not ev(x[0])
        if k == "Or":
            return any(ev(y) for y in x)
        if k == "And":
            return all(ev(y) for y in x)
        raise ValueError(f"cannot evaluate {v}")

    return ev(conds[name])


def pick(v, t, params):
    """A value with its !If resolved for `params` (None for AWS::NoValue)."""
    if isinstance(v, dict) and len(v) == 1 and "If" in v:
        cond, a, b = v["If"]
        return pick(a if eval_condition(t, cond, params) else b, t, params)
    if v == {"Ref": "AWS::NoValue"}:
        return None
    return v


def defaults(t):
    return {k: str(p.get("Default")) for k, p in t["Parameters"].items()}


def site_open_params(t):
    """The parameters of a stack whose report site is opened to everyone (SitePublic=true):
    what the local stack (resources.json, localstack/up) serves."""
    return dict(defaults(t), SitePublic="true")


def from_template(t):
    params = {k: str(p.get("Default")) for k, p in t["Parameters"].items()}
    res = t["Resources"]
    env = t.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    # The variables that carry a resource's name (!Ref); CCAAS_SITE_URL is a !GetAtt.
    env_of = {v["Ref"]: k for k, v in env.items() if isinstance(v, dict) and "Ref" in v}
    name_of = {}
    tables, queues, bucket, key = {}, {}, None, None
    for logical, r in res.items():
        p = r.get("Properties", {})
        if r["Type"] == "AWS::DynamoDB::Table":
            name = resolve(p["TableName"], params)
            tables[name] = {
                "env": env_of.get(logical),
                "hash_key": next(k["AttributeName"] for k in p["KeySchema"] if k["KeyType"] == "HASH"),
                "range_key": next((k["AttributeName"] for k in p["KeySchema"] if k["KeyType"] == "RANGE"), None),
                "ttl_attribute": (p.get("TimeToLiveSpecification") or {}).get("AttributeName"),
                "sse": bool((p.get("SSESpecification") or {}).get("SSEEnabled")),
                "pitr": bool((p.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled")),
                # At the template's defaults (SearchBackend=tantivy: search_rules checks none).
                "stream": (pick(p.get("StreamSpecification"), t, defaults(t)) or {}).get("StreamViewType"),
                "indexes": sorted(
                    (ix["IndexName"],
                     next(k["AttributeName"] for k in ix["KeySchema"] if k["KeyType"] == "HASH"),
                     next(k["AttributeName"] for k in ix["KeySchema"] if k["KeyType"] == "RANGE"))
                    for ix in p.get("GlobalSecondaryIndexes", [])
                ),
            }
        elif r["Type"] == "AWS::SQS::Queue":
            name_of[logical] = resolve(p["QueueName"], params)
            queues[logical] = p
        elif r["Type"] == "AWS::S3::Bucket":
            w = p["WebsiteConfiguration"]
            rules = (p.get("LifecycleConfiguration") or {}).get("Rules", [])
            bucket = {
                "name": resolve(p["BucketName"], params),
                "env": env_of.get(logical),
                "index_document": w["IndexDocument"],
                "error_document": w["ErrorDocument"],
                "lifecycle": sorted(
                    (r["Prefix"], int(resolve(r["ExpirationInDays"], params)))
                    for r in rules
                    if r.get("Status") == "Enabled" and "ExpirationInDays" in r
                ),
                # What the site opens once opened; at the defaults it opens nothing
                # (template_rules: site_rules).
                "public_keys": public_keys_of_template(t, logical, site_open_params(t)),
            }
        elif r["Type"] == "AWS::KMS::Key":
            # (template_rules requires exactly one key.)
            key = {
                "aliases": sorted(
                    resolve(a["Properties"]["AliasName"], params) for a in res.values()
                    if a["Type"] == "AWS::KMS::Alias" and ref_target(a["Properties"]["TargetKeyId"]) == logical
                ),
                # Set in Globals (the key's ARN), so that every function gets it.
                "env": next((k for k, v in env.items() if ref_target(v) == logical), None),
                "rotation": bool(p.get("EnableKeyRotation")),
                "spec": p.get("KeySpec", KEY_SPEC),
                "usage": p.get("KeyUsage", KEY_USAGE),
                "enabled": p.get("Enabled", True) is True,
            }
    qs = {}
    for logical, p in queues.items():
        rp = p.get("RedrivePolicy")
        if not rp:
            continue
        dlq_logical = ref_target(rp["deadLetterTargetArn"])
        qs[name_of[logical]] = {
            "env": env_of.get(logical),
            "dlq": name_of[dlq_logical],
            "max_receive_count": int(rp["maxReceiveCount"]),
            "visibility_timeout": int(p["VisibilityTimeout"]),
            "fifo": bool(p.get("FifoQueue")) and bool(queues[dlq_logical].get("FifoQueue")),
            "sse": bool(p.get("SqsManagedSseEnabled")) and bool(queues[dlq_logical].get("SqsManagedSseEnabled")),
        }
    return tables, qs, bucket, key


def public_keys_of_template(t, bucket_logical, params):
    """The object keys (patterns) the bucket policy lets anyone GetObject under `params`
    (a policy whose Condition does not hold is not there), as sorted strings. A statement that
    grants anything else to everyone is reported as such."""
    keys = []
    for r in t["Resources"].values():
        p = r.get("Properties", {})
        if r["Type"] != "AWS::S3::BucketPolicy" or ref_target(p["Bucket"]) != bucket_logical:
            continue
        if "Condition" in r and not eval_condition(t, r["Condition"], params):
            continue
        for st in p["PolicyDocument"]["Statement"]:
            if st.get("Effect") != "Allow" or st.get("Principal") not in ("*", {"AWS": "*"}):
                continue
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            if actions != [PUBLIC_ACTION]:
                keys.append(f"PUBLIC {','.join(actions)}")
            for rsc in st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]:
                s = rsc["Sub"] if isinstance(rsc, dict) and "Sub" in rsc else str(rsc)
                keys.append(s.split("}/", 1)[1] if "}/" in s else f"BUCKET {s}")
    return sorted(keys)


def from_resources(r):
    tables = {
        t["name"]: {
            "env": t["env"],
            "hash_key": t["hash_key"],
            "range_key": t.get("range_key"),
            "ttl_attribute": t["ttl_attribute"],
            "sse": t["sse"],
            "pitr": t["pitr"],
            "stream": t.get("stream"),
            "indexes": sorted((ix["name"], ix["hash_key"], ix["range_key"]) for ix in t["indexes"]),
        }
        for t in r["tables"]
    }
    qs = {
        q["name"]: {"env": q["env"], "dlq": q["dlq"], "max_receive_count": q["max_receive_count"],
                    "visibility_timeout": q["visibility_timeout"], "fifo": True, "sse": True}
        for q in r["queues"]
    }
    b = r["bucket"]
    k = r.get("key")
    return tables, qs, {
        "name": b["name"], "env": b["env"], "index_document": b["index_document"],
        "error_document": b["error_document"],
        "lifecycle": sorted((x["prefix"], x["days"]) for x in b["lifecycle"]),
        "public_keys": sorted(b["public_keys"]),
    }, k and {
        # bootstrap.py always creates a symmetric, enabled key.
        "aliases": [k["alias"]], "env": k["env"], "rotation": k["rotation"],
        "spec": KEY_SPEC, "usage": KEY_USAGE, "enabled": True,
    }


def client(service):
    return boto3.client(service, endpoint_url=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
                        region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test")


def from_emulator(expected):
    exp_tables, exp_queues, exp_bucket, exp_key = expected
    ddb, sqs, s3, kms = (client(s) for s in ("dynamodb", "sqs", "s3", "kms"))
    tables = {}
    for name, t in exp_tables.items():
        d = ddb.describe_table(TableName=name)["Table"]
        ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        pitr = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        tables[name] = {
            "env": t["env"],  # the env var name is not a property of the resource
            "hash_key": next(k["AttributeName"] for k in d["KeySchema"] if k["KeyType"] == "HASH"),
            "range_key": next((k["AttributeName"] for k in d["KeySchema"] if k["KeyType"] == "RANGE"), None),
            "ttl_attribute": ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") else None,
            "sse": (d.get("SSEDescription") or {}).get("Status") in ("ENABLED", "ENABLING"),
            "pitr": (pitr.get("PointInTimeRecoveryDescription") or {}).get("PointInTimeRecoveryStatus") == "ENABLED",
            "stream": (d.get("StreamSpecification") or {}).get("StreamViewType")
            if (d.get("StreamSpecification") or {}).get("StreamEnabled") else None,
            "indexes": sorted(
                (ix["IndexName"],
                 next(k["AttributeName"] for k in ix["KeySchema"] if k["KeyType"] == "HASH"),
                 next(k["AttributeName"] for k in ix["KeySchema"] if k["KeyType"] == "RANGE"))
                for ix in d.get("GlobalSecondaryIndexes", [])
            ),
        }
    qs = {}
    for name, q in exp_queues.items():
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        rp = json.loads(a["RedrivePolicy"])
        dlq_name = rp["deadLetterTargetArn"].split(":")[-1]
        dlq_url = sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"]
        dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"]
        qs[name] = {"env": q["env"], "dlq": dlq_name, "max_receive_count": int(rp["maxReceiveCount"]),
                    "visibility_timeout": int(a["VisibilityTimeout"]),
                    "fifo": a.get("FifoQueue") == "true" and dlq.get("FifoQueue") == "true",
                    "sse": a.get("SqsManagedSseEnabled") == "true" and dlq.get("SqsManagedSseEnabled") == "true"}
    name = exp_bucket["name"]
    w = s3.get_bucket_website(Bucket=name)
    rules = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
    policy = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])
    keys = []
    for st in policy["Statement"]:
        if st.get("Effect") != "Allow" or st.get("Principal") not in ("*", {"AWS": "*"}):
            continue
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        if actions != [PUBLIC_ACTION]:
            keys.append(f"PUBLIC {','.join(actions)}")
        for rsc in st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]:
            prefix = f"arn:aws:s3:::{name}/"
            keys.append(rsc[len(prefix):] if rsc.startswith(prefix) else f"BUCKET {rsc}")
    bucket = {
        "name": name, "env": exp_bucket["env"],
        "index_document": w["IndexDocument"]["Suffix"],
        "error_document": w["ErrorDocument"]["Key"],
        "lifecycle": sorted(
            ((r.get("Filter") or {}).get("Prefix", r.get("Prefix")), r["Expiration"]["Days"])
            for r in rules if r.get("Status") == "Enabled" and "Days" in (r.get("Expiration") or {})
        ),
        "public_keys": sorted(keys),
    }
    return tables, qs, bucket, key_of_emulator(kms, exp_key)


def key_of_emulator(kms, exp_key):
    """The key behind the expected alias, as from_resources describes it; None when the
    emulator has no such alias."""
    if exp_key is None:
        return None
    try:
        meta = kms.describe_key(KeyId=exp_key["aliases"][0])["KeyMetadata"]
    except kms.exceptions.NotFoundException:
        return None
    return {
        "aliases": sorted(a["AliasName"] for a in kms.list_aliases(KeyId=meta["KeyId"])["Aliases"]),
        "env": exp_key["env"],  # the env var name is not a property of the resource
        "rotation": kms.get_key_rotation_status(KeyId=meta["KeyId"])["KeyRotationEnabled"],
        "spec": meta.get("KeySpec", meta.get("CustomerMasterKeySpec")),
        "usage": meta["KeyUsage"],
        "enabled": bool(meta["Enabled"]) and meta["KeyState"] == "Enabled",
    }


def diff(label_a, a, label_b, b):
    out = []
    for part, x, y in zip(("tables", "queues", "bucket", "key"), a, b):
        if x != y:
            out.append(f"{part}: {label_a} != {label_b}\n  {label_a}: {json.dumps(x, sort_keys=True)}\n  {label_b}: {json.dumps(y, sort_keys=True)}")
    return out


def sam_translate(t):
    """The plain CloudFormation SAM makes of the template (default parameters), or None when
    aws-sam-translator is not installed."""
    try:
        from samtranslator.translator.transform import transform
    except ImportError:
        return None
    import logging
    logging.getLogger("samtranslator").setLevel(logging.ERROR)

    def untag(v):
        """The loader's {"Sub": x} tags as CloudFormation's {"Fn::Sub": x}."""
        if isinstance(v, dict):
            if len(v) == 1:
                (k, x), = v.items()
                if k in INTRINSICS:
                    return {"Fn::" + k: untag(x.split(".", 1) if k == "GetAtt" and isinstance(x, str) else x)}
            return {k: untag(x) for k, x in v.items()}
        if isinstance(v, list):
            return [untag(x) for x in v]
        return v

    plain = untag(copy.deepcopy(t))
    for r in plain["Resources"].values():
        if r["Type"] == "AWS::Serverless::Function":
            r["Properties"]["CodeUri"] = "s3://bucket/key"  # what `sam package` puts there

    class NoPolicies:
        def load(self):
            return {}

    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    return transform(plain, {}, NoPolicies())


INTRINSICS = {"Sub", "GetAtt", "If", "Not", "Equals", "Join", "Select", "Split", "And", "Or",
              "FindInMap", "ImportValue", "GetAZs", "Base64", "Cidr"}


def template_rules(t):
    """Rules about the template alone. Returns a list of problems."""
    problems = []
    res = t["Resources"]
    params = {k: str(p.get("Default")) for k, p in t["Parameters"].items()}
    env = t.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    proc = res["ProcessorFunction"]["Properties"]
    timeout = int(proc["Timeout"])
    queue_logicals = [ref_target(e["Properties"]["Queue"]) for e in proc.get("Events", {}).values() if e["Type"] == "SQS"]
    if sorted(queue_logicals) != sorted(k for k, r in res.items() if r["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in r["Properties"]):
        problems.append(f"the processor's SQS events {queue_logicals} are not exactly the queues with a DLQ")
    for q in queue_logicals:
        qp = res[q]["Properties"]
        vis = int(qp["VisibilityTimeout"])
        if not 6 * timeout < vis:
            problems.append(f"processor Timeout {timeout} s is not below {q} VisibilityTimeout {vis} s / 6")
        if int(env.get("CCAAS_MAX_RECEIVES", 0)) != int(qp["RedrivePolicy"]["maxReceiveCount"]):
            problems.append(f"CCAAS_MAX_RECEIVES {env.get('CCAAS_MAX_RECEIVES')} != {q} maxReceiveCount")
    # The retry window must fit in the receives (the Rust twin: ccaas_app::RetryPolicy::fits).
    penv = proc.get("Environment", {}).get("Variables", {})
    window_param = ref_target(penv.get("CCAAS_RETRY_WINDOW_SECS"))
    window = int(t["Parameters"][window_param]["MaxValue"]) if window_param else int(penv.get("CCAAS_RETRY_WINDOW_SECS", 900))
    delay, max_delay = int(penv.get("CCAAS_RETRY_DELAY_SECS", 2)), int(penv.get("CCAAS_RETRY_MAX_DELAY_SECS", 300))
    receives = int(env.get("CCAAS_MAX_RECEIVES", 0))
    usable = max(receives - 3, 0)  # less the last delivery and two kept for a lease takeover
    spread = sum(min(delay * 2 ** (n - 1), max(max_delay, delay)) for n in range(1, usable + 1))
    if spread < window:
        problems.append(f"CCAAS_MAX_RECEIVES {receives} leaves {usable} retries whose delays add up to {spread} s, "
                        f"below the longest retry window {window} s")
    if int(env.get("CCAAS_LEASE_SECS", 0)) < timeout:
        problems.append(f"CCAAS_LEASE_SECS {env.get('CCAAS_LEASE_SECS')} is below the processor Timeout {timeout}")
    for logical, e in proc.get("Events", {}).items():
        p = e["Properties"]
        if p.get("FunctionResponseTypes") != ["ReportBatchItemFailures"]:
            problems.append(f"processor event {logical} lacks FunctionResponseTypes [ReportBatchItemFailures]")
        if "MaximumConcurrency" not in (p.get("ScalingConfig") or {}):
            problems.append(f"processor event {logical} lacks ScalingConfig.MaximumConcurrency")
    for logical, r in res.items():
        if r["Type"] == "AWS::DynamoDB::Table":
            p = r["Properties"]
            if p.get("BillingMode") != "PAY_PER_REQUEST":
                problems.append(f"{logical} is not PAY_PER_REQUEST")
        if r["Type"] == "AWS::Serverless::Function":
            p = r["Properties"]
            if p.get("LoggingConfig", {}).get("LogFormat") != "JSON":
                problems.append(f"{logical} does not log JSON")
            alarms = [ref_target(a) for a in (p.get("DeploymentPreference") or {}).get("Alarms", [])]
            for a in alarms:
                ap = res.get(a, {}).get("Properties", {})
                dims = {d["Name"]: resolve(d["Value"], params) for d in ap.get("Dimensions", [])}
                if ap.get("MetricName") != "Errors" or dims.get("FunctionName") != resolve(p["FunctionName"], params):
                    problems.append(f"{logical}'s deployment alarm {a} is not on its own Errors")
            if not alarms:
                problems.append(f"{logical} has no DeploymentPreference alarms")
    alarms = [r["Properties"] for r in res.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    watched = {(a["MetricName"], ref_target(d["Value"]) or resolve(d["Value"], params))
               for a in alarms for d in a.get("Dimensions", [])}
    for q in queue_logicals:
        dlq = ref_target(res[q]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        if ("ApproximateNumberOfMessagesVisible", dlq) not in watched:
            problems.append(f"no alarm on the depth of {dlq}")
    for logical, r in res.items():
        if r["Type"] == "AWS::Serverless::Function":
            fname = resolve(r["Properties"]["FunctionName"], params)
            for metric in ("Errors", "Throttles"):
                if (metric, fname) not in watched:
                    problems.append(f"no alarm on {logical} {metric}")

    # The queue key: one, rotated, with an alias, governed by IAM; the submit function may
    # encrypt with it and the processor decrypt; every function gets it from Globals.
    keys = [k for k, r in res.items() if r["Type"] == "AWS::KMS::Key"]
    if len(keys) != 1:
        problems.append(f"the template declares {len(keys)} AWS::KMS::Key resources {keys}, not exactly one (the queue key)")
    key = keys[0] if len(keys) == 1 else None
    key_env = [k for k, v in env.items() if key and ref_target(v) == key]
    if key:
        kp = res[key]["Properties"]
        if kp.get("EnableKeyRotation") is not True:
            problems.append(f"{key} does not rotate (EnableKeyRotation)")
        if not any(r["Type"] == "AWS::KMS::Alias" and ref_target(r["Properties"]["TargetKeyId"]) == key
                   for r in res.values()):
            problems.append(f"{key} has no AWS::KMS::Alias")
        root = {"AWS": {"Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
        if not any(st.get("Effect") == "Allow" and st.get("Principal") == root and st.get("Action") in ("kms:*", ["kms:*"])
                   for st in (kp.get("KeyPolicy") or {}).get("Statement", [])):
            problems.append(f"{key}'s key policy does not let the account's IAM policies govern it (root kms:*)")
        if not key_env:
            problems.append(f"no Globals environment variable carries {key}")
        for fn, action in KEY_USERS.items():
            pols = res.get(fn, {}).get("Properties", {}).get("Policies", [])
            if not policies_allow(pols, action, key):
                problems.append(f"{fn}'s policies do not allow {action} on {key}")
    for logical, r in res.items():
        if r["Type"] == "AWS::Serverless::Function":
            own = ((r["Properties"].get("Environment") or {}).get("Variables") or {})
            for name in key_env:
                if name in own:
                    problems.append(f"{logical} sets {name} itself instead of taking the key from Globals")

    # Every variable the template sets is one a typed config reads (a typo would be ignored):
    # the shared stack settings or the submit or processor function's own.
    config_rs = ""
    for part in (("shared", "aws"), ("functions", "submit"), ("functions", "processor"), ("functions", "indexer")):
        with open(os.path.join(ROOT, *part, "src", "config.rs")) as f:
            config_rs += f.read()
    names = set(env)
    for r in res.values():
        if r["Type"] == "AWS::Serverless::Function":
            names |= set(((r["Properties"].get("Environment") or {}).get("Variables") or {}))
    for name in sorted(names):
        # DD_* configure the Datadog extension layer (metrics_rules), not our code.
        if name.startswith("DD_"):
            continue
        if f'"{name}"' not in config_rs:
            problems.append(f"the template sets {name}, which no config.rs (shared/aws, functions/submit, functions/processor, functions/indexer) reads")

    for output in ("ApiUrl", "SiteUrl"):
        if output not in t.get("Outputs", {}):
            problems.append(f"the template has no {output} output")

    problems += site_rules(t)
    problems += search_rules(t)
    problems += metrics_rules(t)
    problems += device_rules(t)
    problems += iam_rules(t, key)
    problems += ephemeral_rules(t)
    problems += memory_rules(t)

    out = sam_translate(t)
    if out is None:
        print("note: aws-sam-translator is not installed; the SAM translation checks were not run")
        return problems
    tr = out["Resources"]
    for logical, r in tr.items():
        if r["Type"] == "AWS::Lambda::EventSourceMapping":
            target = r["Properties"]["FunctionName"]
            if not (isinstance(target, dict) and str(target.get("Ref", "")).endswith("Aliaslive")):
                problems.append(f"SAM: event source mapping {logical} does not target the live alias: {target}")
    for fn in (k for k, r in res.items() if r["Type"] == "AWS::Serverless::Function"):
        dg = tr.get(f"{fn}DeploymentGroup")
        if not dg:
            problems.append(f"SAM: {fn} has no CodeDeploy deployment group")
        elif not dg["Properties"].get("AlarmConfiguration", {}).get("Alarms"):
            problems.append(f"SAM: {fn}'s deployment group watches no alarm")
    for logical, r in tr.items():
        if r["Type"] == "AWS::ApiGatewayV2::Integration":
            uri = r["Properties"].get("IntegrationUri")
            if not (isinstance(uri, dict) and str(uri.get("Ref", "")).endswith("Aliaslive")):
                problems.append(f"SAM: API integration {logical} does not invoke the live alias: {uri}")
    if key:
        for logical, r in tr.items():
            if r["Type"] == "AWS::Lambda::Function":
                v = ((r["Properties"].get("Environment") or {}).get("Variables") or {})
                for name in key_env:
                    if v.get(name) != {"Fn::GetAtt": [key, "Arn"]}:
                        problems.append(f"SAM: {logical} gets {name}={v.get(name)}, not {key}'s ARN")
        for fn, action in KEY_USERS.items():
            role = ((tr.get(fn, {}).get("Properties") or {}).get("Role") or {}).get("Fn::GetAtt", [None])[0]
            statements = role_statements(tr, role)
            if not any(st.get("Effect") == "Allow" and action in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])
                       and refers_to(st.get("Resource"), key) for st in statements):
                problems.append(f"SAM: {fn}'s role may not {action} with {key}")
    problems += dangling_references(out, t)
    # A failed message's retry delay: the processor shortens its visibility on both queues.
    role = ((tr.get("ProcessorFunction", {}).get("Properties") or {}).get("Role") or {}).get("Fn::GetAtt", [None])[0]
    statements = role_statements(tr, role)
    for q in ("TaskQueue", "HighTaskQueue"):
        if not any(st.get("Effect") == "Allow"
                   and "sqs:ChangeMessageVisibility" in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])
                   and refers_to(st.get("Resource"), q) for st in statements):
            problems.append(f"SAM: the processor's role may not sqs:ChangeMessageVisibility on {q} (retry delays)")
    return problems


def dangling_references(out, t):
    """Every Ref, GetAtt and ${X} of a resource the translated template creates names a
    resource it creates too, with SearchBackend none and tantivy (a conditional resource that
    another, unconditional one names fails the deploy)."""
    def plain(v):
        if isinstance(v, dict):
            return {k[4:] if k.startswith("Fn::") else k: plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v
    ct = {"Conditions": plain(out.get("Conditions", {}))}
    problems = []
    for backend in ("none", "tantivy", "opensearch"):
        params = dict(defaults(t), SearchBackend=backend)
        made = {k for k, r in out["Resources"].items()
                if "Condition" not in r or eval_condition(ct, r["Condition"], params)}

        def names(v):
            v = plain(v)
            if isinstance(v, dict):
                if set(v) == {"If"}:
                    c, a, b = v["If"]
                    yield from names(a if eval_condition(ct, c, params) else b)
                    return
                if "Ref" in v and isinstance(v["Ref"], str):
                    yield v["Ref"]
                if "GetAtt" in v:
                    g = v["GetAtt"]
                    yield g[0] if isinstance(g, list) else str(g).split(".")[0]
                if "Sub" in v:
                    text = v["Sub"][0] if isinstance(v["Sub"], list) else v["Sub"]
                    local = set(v["Sub"][1]) if isinstance(v["Sub"], list) else set()
                    for m in re.findall(r"\$\{([^}!]+)\}", str(text)):
                        if m.split(".")[0] not in local:
                            yield m.split(".")[0]
                for k, x in v.items():
                    if k not in ("Ref", "GetAtt"):
                        yield from names(x)
            elif isinstance(v, list):
                for x in v:
                    yield from names(x)

        for k in sorted(made):
            r = out["Resources"][k]
            for n in set(names({kk: vv for kk, vv in r.items() if kk in ("Properties", "DependsOn", "UpdatePolicy")})):
                if n in out["Resources"] and n not in made:
                    problems.append(f"SAM: with SearchBackend={backend} {k} refers to {n}, which is not created")
    return problems


def emitted_metrics():
    """The metric names the code emits (METRIC_NAMES in shared/app/src/metrics.rs)."""
    with open(os.path.join(ROOT, "shared", "app", "src", "metrics.rs")) as f:
        src = f.read()
    m = re.search(r"METRIC_NAMES: \[&str; \d+\] = \[(.*?)\];", src, re.S)
    return re.findall(r'"(\w+)"', m.group(1)) if m else []


def metrics_rules(t):
    """The service's own metrics (namespace ccaas, emitted as EMF lines): a dashboard that
    shows every metric the code emits, alarms on the failure rate and the queue wait that
    notify the alarm topic, and the Datadog extension only when its key's secret is given
    (layer, DD_* variables and the secret's read all conditional, so a default deploy has
    none of them)."""
    problems = []
    res = t["Resources"]
    names = emitted_metrics()
    if len(names) != 6:
        problems.append(f"shared/app/src/metrics.rs: METRIC_NAMES not found or changed: {names}")
    dashboards = [r for r in res.values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    if len(dashboards) != 1:
        problems.append(f"the template has {len(dashboards)} dashboards, not one")
    else:
        body = dashboards[0]["Properties"]["DashboardBody"]
        body = body.get("Sub", "") if isinstance(body, dict) else str(body)
        try:
            json.loads(re.sub(r"\$\{[^}]+\}", "1", body))
        except ValueError as e:
            problems.append(f"the dashboard body is not JSON once substituted: {e}")
        for n in names:
            if not re.search(rf"\b{n}\b", body):
                problems.append(f"the dashboard does not show the metric {n}")

    def stats_of(alarm):
        return [(m["MetricStat"]["Metric"].get("Namespace"), m["MetricStat"]["Metric"].get("MetricName"),
                 {d["Name"]: d["Value"] for d in m["MetricStat"]["Metric"].get("Dimensions", [])})
                for m in alarm.get("Metrics", []) if "MetricStat" in m]
    alarms = [r["Properties"] for r in res.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    failure = [a for a in alarms if ("ccaas", "TasksFinished", {"Status": "failed"}) in stats_of(a)
               and ("ccaas", "TasksFinished", {"Status": "succeeded"}) in stats_of(a)]
    wait = [a for a in alarms if any(ns == "ccaas" and n == "QueueWaitMs" for ns, n, _ in stats_of(a))]
    for what, found in (("the task failure rate", failure), ("the queue wait", wait)):
        if not found:
            problems.append(f"no alarm on {what} (namespace ccaas)")
        elif not all(a.get("AlarmActions") for a in found):
            problems.append(f"the alarm on {what} notifies nobody")

    if str(t["Parameters"].get("DatadogApiKeySecretArn", {}).get("Default")) != "":
        problems.append("DatadogApiKeySecretArn has a default: a default deploy would add the Datadog extension")
    glob = t.get("Globals", {}).get("Function", {})
    layers = glob.get("Layers")
    if not (isinstance(layers, dict) and "If" in layers and layers["If"][0] == "DatadogOn"
            and layers["If"][2] == {"Ref": "AWS::NoValue"}):
        problems.append(f"the functions' layers are not conditional on DatadogOn: {layers}")
    for name, v in (glob.get("Environment", {}).get("Variables") or {}).items():
        if name.startswith("DD_") and not (isinstance(v, dict) and "If" in v and v["If"][0] == "DatadogOn"
                                            and v["If"][2] == {"Ref": "AWS::NoValue"}):
            problems.append(f"{name} is set whether or not Datadog is on")
    for logical, r in res.items():
        if r["Type"] == "AWS::Serverless::Function":
            reads = [p for p in r["Properties"].get("Policies", [])
                     if isinstance(p, dict) and "If" in p and p["If"][0] == "DatadogOn"
                     and "AWSSecretsManagerGetSecretValuePolicy" in (p["If"][1] or {})]
            if not reads:
                problems.append(f"{logical} may not read the Datadog key's secret when Datadog is on")
    return problems


def role_statements(tr, role):
    """The statements of a SAM-translated role's inline policies. A conditional policy (the
    Datadog key's, `Fn::If` with `AWS::NoValue`) counts with its branches' statements."""
    statements = []
    for p in (tr.get(role, {}).get("Properties") or {}).get("Policies", []):
        for branch in (p["Fn::If"][1:] if "Fn::If" in p else [p]):
            if isinstance(branch, dict) and "PolicyDocument" in branch:
                statements += branch["PolicyDocument"]["Statement"]
    return statements


def site_rules(t):
    """The report site is private at the template's defaults (no site policy, public policies
    blocked) and opened only by SitePublic=true (to everyone) or SiteAllowedCidrs (to those
    sources)."""
    problems = []
    res = t["Resources"]
    bucket = next((k for k, r in res.items() if r["Type"] == "AWS::S3::Bucket"), None)
    if not bucket:
        return ["the template has no bucket"]
    block = res[bucket]["Properties"].get("PublicAccessBlockConfiguration") or {}
    cidrs = dict(defaults(t), SiteAllowedCidrs="198.51.100.0/24")
    for label, params, want_open in (("at its defaults", defaults(t), False),
                                     ("with SitePublic=true", site_open_params(t), True),
                                     ("with SiteAllowedCidrs", cidrs, True)):
        try:
            keys = public_keys_of_template(t, bucket, params)
            blocked = {k: pick(block.get(k), t, params) for k in ("BlockPublicPolicy", "RestrictPublicBuckets")}
        except (KeyError, ValueError) as e:
            problems.append(f"the site's conditions do not evaluate {label}: {e}")
            continue
        if not want_open and keys:
            problems.append(f"the report site is readable by anyone {label}: {keys}")
        if not want_open and blocked != {"BlockPublicPolicy": True, "RestrictPublicBuckets": True}:
            problems.append(f"the bucket does not block public policies {label}: {blocked}")
        if want_open and not keys:
            problems.append(f"the report site stays closed {label}")
        if want_open and blocked != {"BlockPublicPolicy": False, "RestrictPublicBuckets": False}:
            problems.append(f"the public access block stops the site policy {label}: {blocked}")
    # Limited to the CIDRs when they are given; no source condition only when public.
    for r in res.values():
        if r["Type"] != "AWS::S3::BucketPolicy":
            continue
        for st in r["Properties"]["PolicyDocument"]["Statement"]:
            if st.get("Principal") not in ("*", {"AWS": "*"}):
                continue
            limited = pick(st.get("Condition"), t, cidrs) or {}
            if limited.get("IpAddress", {}).get("aws:SourceIp") != {"Ref": "SiteAllowedCidrs"}:
                problems.append(f"with SiteAllowedCidrs the site statement {st.get('Sid')} is not limited to them: {limited}")
    return problems


def search_rules(t):
    """Search (docs/design.md, "Search"; docs/deploy.md, "Search"): SearchBackend offers the
    backends the submit config parses; `none` leaves out the tasks table's stream, the indexer
    and everything of it, and tells the submit function `none`; the indexer is the one writer
    (reserved concurrency 1, parallelisation 1) on the tasks table's NEW_IMAGE stream, batches
    of 100 within 1 s, bisected on error, retries capped, with an on-failure destination; it
    reads the tasks table with GetItem only. No bucket policy makes index/ public."""
    import fnmatch
    problems = []
    res, params = t["Resources"], t["Parameters"]
    sb = params.get("SearchBackend")
    if not sb:
        return ["the template has no SearchBackend parameter"]
    with open(os.path.join(ROOT, "shared", "aws", "src", "config.rs")) as f:
        parsed = set(re.findall(r'SearchBackend::\w+ => "(\w+)"', f.read()))
    if set(sb.get("AllowedValues") or []) != parsed:
        problems.append(f"SearchBackend allows {sb.get('AllowedValues')}, the submit config parses {sorted(parsed)}")
    if sb.get("Default") not in (sb.get("AllowedValues") or []):
        problems.append(f"SearchBackend's default {sb.get('Default')} is not one of its values")
    sub = ((res["SubmitFunction"]["Properties"].get("Environment") or {}).get("Variables") or {})
    if sub.get("CCAAS_SEARCH") != {"Ref": "SearchBackend"}:
        problems.append(f"the submit function gets CCAAS_SEARCH={sub.get('CCAAS_SEARCH')}, not SearchBackend")
    off, on = dict(defaults(t), SearchBackend="none"), dict(defaults(t), SearchBackend="tantivy")
    try:
        for label, ps, want in (("none", off, None), ("tantivy", on, "NEW_IMAGE")):
            got = (pick(res["TasksTable"]["Properties"].get("StreamSpecification"), t, ps) or {}).get("StreamViewType")
            if got != want:
                problems.append(f"with SearchBackend={label} the tasks table's stream is {got}, not {want}")
        # The indexer's resources: named Indexer*, or referring to one of those (its errors
        # alarm is needed by the deployment group SAM makes unconditionally).
        named = {k for k in res if k.startswith("Indexer") and k != "IndexerErrorsAlarm"}
        indexer = sorted(named | {k for k, r in res.items() if any(refers_to(r, n) for n in named)})
        for k in indexer:
            cond = res[k].get("Condition")
            if not cond or eval_condition(t, cond, off) or not eval_condition(t, cond, on):
                problems.append(f"{k} is not created exactly when SearchBackend is not none (Condition {cond})")
    except (KeyError, ValueError) as e:
        problems.append(f"the search conditions do not evaluate: {e}")
    fn = res.get("IndexerFunction")
    if not fn:
        return problems + ["the template has no IndexerFunction"]
    p = fn["Properties"]
    if p.get("ReservedConcurrentExecutions") != 1:
        problems.append(f"the indexer's ReservedConcurrentExecutions is {p.get('ReservedConcurrentExecutions')}, not 1 (one writer)")
    events = list((p.get("Events") or {}).values())
    if len(events) != 1 or events[0].get("Type") != "DynamoDB":
        problems.append(f"the indexer has not exactly one DynamoDB event: {[e.get('Type') for e in events]}")
    else:
        e = events[0]["Properties"]
        if e.get("Stream") != {"GetAtt": "TasksTable.StreamArn"}:
            problems.append(f"the indexer reads {e.get('Stream')}, not the tasks table's stream")
        want = {"BatchSize": 100, "MaximumBatchingWindowInSeconds": 1, "ParallelizationFactor": 1,
                "BisectBatchOnFunctionError": True}
        for k, v in want.items():
            if e.get(k) != v:
                problems.append(f"the indexer's stream mapping has {k}={e.get(k)}, not {v}")
        if not isinstance(e.get("MaximumRetryAttempts"), int) or not 0 <= e["MaximumRetryAttempts"] <= 100:
            problems.append(f"the indexer's retries are not capped: MaximumRetryAttempts={e.get('MaximumRetryAttempts')}")
        if not ((e.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination"):
            problems.append("the indexer's stream mapping has no on-failure destination")
    # The backend and the OpenSearch settings reach both functions; OpenSearch permissions
    # exist only with SearchBackend=opensearch, and the submit function's cannot PUT or DELETE.
    ind = (p.get("Environment") or {}).get("Variables") or {}
    for fn, env_ in (("SubmitFunction", sub), ("IndexerFunction", ind)):
        for k, param in (("CCAAS_SEARCH", "SearchBackend"), ("CCAAS_OPENSEARCH_ENDPOINT", "OpenSearchEndpoint"),
                         ("CCAAS_OPENSEARCH_INDEX", "OpenSearchIndex"),
                         ("CCAAS_OPENSEARCH_SERVICE", "OpenSearchService")):
            if env_.get(k) != {"Ref": param}:
                problems.append(f"{fn} gets {k}={env_.get(k)}, not the {param} parameter")
        for x in res[fn]["Properties"].get("Policies", []):
            branch = x.get("If") if isinstance(x, dict) and set(x) == {"If"} else None
            cond, sts = (branch[0], statements_of([branch[1]])) if branch else (None, statements_of([x]))
            acts = [str(a) for st in sts for a in as_list(st.get("Action"))]
            if any(a.startswith(("aoss:", "es:")) for a in acts):
                if cond != "SearchOpenSearch":
                    problems.append(f"{fn} has OpenSearch permissions outside the SearchOpenSearch condition: {acts}")
                if fn == "SubmitFunction" and any(a in ("es:ESHttpPut", "es:ESHttpDelete", "es:ESHttp*", "es:*") for a in acts):
                    problems.append(f"the submit function may write OpenSearch: {acts}")
    try:
        for label, want in (("opensearch", True), ("tantivy", False), ("none", False)):
            if eval_condition(t, "SearchOpenSearch", dict(defaults(t), SearchBackend=label)) != want:
                problems.append(f"SearchOpenSearch is not {want} with SearchBackend={label}")
    except (KeyError, ValueError) as e:
        problems.append(f"the SearchOpenSearch condition does not evaluate: {e}")
    for st in statements_of(p.get("Policies", [])):
        if any(str(a).startswith("dynamodb:") for a in as_list(st.get("Action"))):
            if as_list(st.get("Action")) != ["dynamodb:GetItem"] or ref_target(st.get("Resource")) != "TasksTable":
                problems.append(f"the indexer's DynamoDB statement {st.get('Sid')} is more than GetItem on TasksTable")
    for x in p.get("Policies", []):
        if isinstance(x, dict) and any(k.startswith("DynamoDB") for k in x):
            problems.append(f"the indexer uses a SAM DynamoDB policy template: {list(x)}")
    # index/ stays private whatever opens the site.
    bucket = next((k for k, r in res.items() if r["Type"] == "AWS::S3::Bucket"), None)
    for label, ps in (("at its defaults", defaults(t)), ("with SitePublic=true", site_open_params(t)),
                      ("with SiteAllowedCidrs", dict(defaults(t), SiteAllowedCidrs="198.51.100.0/24"))):
        try:
            keys = public_keys_of_template(t, bucket, ps)
        except (KeyError, ValueError):
            continue  # site_rules reports it
        for key in PRIVATE_INDEX_KEYS:
            if any(fnmatch.fnmatchcase(key, k) for k in keys if not k.startswith(("PUBLIC ", "BUCKET "))):
                problems.append(f"the bucket policy makes {key} public {label}: {keys}")
    return problems


def device_rules(t):
    """The device settings (docs/design.md, "Devices"): the allow-list reaches both functions
    (submit refuses, the processor re-checks), the host-key policy defaults to `pinned` with
    exactly the values the driver parses, the admin list reaches the submit function, and the
    submit function may only touch a device item's pin."""
    problems = []
    res, params = t["Resources"], t["Parameters"]
    env = t.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})

    def own_env(fn):
        return ((res[fn]["Properties"].get("Environment") or {}).get("Variables") or {})

    for name in ("DeviceAllow", "HostKeyPolicy", "AdminUsers"):
        if name not in params:
            problems.append(f"the template has no {name} parameter")
    if problems:
        return problems
    if str(params["DeviceAllow"].get("Default")) != "":
        problems.append("DeviceAllow has a default: unset must mean what the docs say (every device)")
    for fn in ("SubmitFunction", "ProcessorFunction"):
        got = own_env(fn).get("CCAAS_DEVICE_ALLOW", env.get("CCAAS_DEVICE_ALLOW"))
        if got != {"Ref": "DeviceAllow"}:
            problems.append(f"{fn} gets CCAAS_DEVICE_ALLOW={got}, not the DeviceAllow parameter")
    with open(os.path.join(ROOT, "shared", "device", "src", "target.rs")) as f:
        parsed = set(re.findall(r'"(\w+)" => Some\(HostKeyPolicy::', f.read()))
    if params["HostKeyPolicy"].get("Default") != "pinned":
        problems.append(f"HostKeyPolicy defaults to {params['HostKeyPolicy'].get('Default')}, not pinned")
    if set(params["HostKeyPolicy"].get("AllowedValues") or []) != parsed:
        problems.append(f"HostKeyPolicy allows {params['HostKeyPolicy'].get('AllowedValues')}, the driver parses {sorted(parsed)}")
    if own_env("ProcessorFunction").get("CCAAS_HOST_KEY_POLICY") != {"Ref": "HostKeyPolicy"}:
        problems.append("the processor does not get CCAAS_HOST_KEY_POLICY from HostKeyPolicy")
    if own_env("SubmitFunction").get("CCAAS_ADMIN_USERS") != {"Ref": "AdminUsers"}:
        problems.append("the submit function does not get CCAAS_ADMIN_USERS from AdminUsers")
    pols = res["SubmitFunction"]["Properties"].get("Policies", [])
    for x in pols:
        if isinstance(x, dict) and any(ref_target((v or {}).get("TableName")) == "DevicesTable"
                                       for v in x.values() if isinstance(v, dict)):
            problems.append(f"the submit function has a SAM policy template on DevicesTable: {list(x)}")
    reads = {"dynamodb:Scan", "dynamodb:Query", "dynamodb:GetItem", "dynamodb:BatchGetItem",
             "dynamodb:DescribeTable", "dynamodb:ConditionCheckItem"}
    grants = [st for st in statements_of(pols)
              if any(str(a).startswith("dynamodb:") and a not in reads for a in as_list(st.get("Action")))]
    # The usage history: counter ADDs (with a task's creation or cancellation) and queries.
    usage = [st for st in grants if ref_target(st.get("Resource")) == "UsageTable"]
    if [sorted(as_list(st.get("Action"))) for st in usage] != [["dynamodb:Query", "dynamodb:UpdateItem"]]:
        problems.append(f"the submit function's usage table grant is not UpdateItem and Query: {usage}")
    grants = [st for st in grants if st not in usage]
    proc = [st for st in statements_of(res["ProcessorFunction"]["Properties"].get("Policies", []))
            if ref_target(st.get("Resource")) == "UsageTable"]
    if [sorted(as_list(st.get("Action"))) for st in proc] != [["dynamodb:PutItem", "dynamodb:UpdateItem"]]:
        problems.append(f"the processor's usage table grant is not UpdateItem and PutItem: {proc}")
    for st in grants:
        if as_list(st.get("Action")) != ["dynamodb:UpdateItem"] or ref_target(st.get("Resource")) != "DevicesTable":
            problems.append(f"the submit function's DynamoDB statement {st.get('Sid')} is more than UpdateItem on DevicesTable")
        attrs = ((st.get("Condition") or {}).get("ForAllValues:StringEquals") or {}).get("dynamodb:Attributes")
        if sorted(attrs or []) != ["host", "host_key_sha256"]:
            problems.append(f"the submit function's statement {st.get('Sid')} may write device attributes other than the pin: {attrs}")
    if not grants:
        problems.append("the submit function may not drop pins (UpdateItem on DevicesTable)")
    return problems


def mail_rules(t, r):
    """Email notices (docs/deploy.md, "Email notices"): the MailFrom parameter (empty = off)
    reaches both functions as resources.json's variable; only the processor may send, only
    under the MailOn condition, only as that address (ses:FromAddress), only identities of
    its own account and region."""
    problems = []
    res, params = t["Resources"], t["Parameters"]
    env = t.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    mail = r.get("mail") or {}
    if "MailFrom" not in params:
        return ["the template has no MailFrom parameter"]
    if str(params["MailFrom"].get("Default")) != "":
        problems.append("MailFrom has a default: email must be off unless a sender is given")
    name = mail.get("env")
    if not name or env.get(name) != {"Ref": "MailFrom"}:
        problems.append(f"the Globals do not pass MailFrom as {name} (resources.json's mail env): {env.get(name)}")
    if t.get("Conditions", {}).get("MailOn") != {"Not": [{"Equals": [{"Ref": "MailFrom"}, ""]}]}:
        problems.append("the MailOn condition is not MailFrom != ''")
    for fn in (k for k, x in res.items() if x["Type"] == "AWS::Serverless::Function"):
        pols = res[fn]["Properties"].get("Policies", [])
        plain = [st for st in statements_of(pols) if any(str(a).startswith("ses:") for a in as_list(st.get("Action")))]
        for st in plain:
            problems.append(f"{fn} may use SES whether or not MailFrom is set: {st.get('Sid')}")
        gated = [st for p in pols if isinstance(p, dict) and "If" in p
                 for st in ((p["If"][1] or {}).get("Statement") or [])
                 if any(str(a).startswith("ses:") for a in as_list(st.get("Action")))]
        if fn != "ProcessorFunction":
            problems += [f"{fn} may use SES: {st.get('Sid')}" for st in gated]
            continue
        for p in pols:
            if isinstance(p, dict) and "If" in p and any(
                    str(a).startswith("ses:") for st in ((p["If"][1] or {}).get("Statement") or [])
                    for a in as_list(st.get("Action"))):
                if p["If"][0] != "MailOn" or p["If"][2] != {"Ref": "AWS::NoValue"}:
                    problems.append(f"the processor's SES grant is not conditional on MailOn: {p['If'][0]}")
        if not gated:
            problems.append("the processor may not ses:SendEmail when MailFrom is set")
        for st in gated:
            if as_list(st.get("Action")) != ["ses:SendEmail"]:
                problems.append(f"the processor's SES statement {st.get('Sid')} allows more than ses:SendEmail")
            if (st.get("Condition") or {}).get("StringEquals", {}).get("ses:FromAddress") != {"Ref": "MailFrom"}:
                problems.append(f"the processor's SES statement {st.get('Sid')} does not pin ses:FromAddress to MailFrom")
            own = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/"
            for x in as_list(st.get("Resource")):
                sub = x.get("Sub") if isinstance(x, dict) else x
                if not (isinstance(sub, str) and sub.startswith(own)):
                    problems.append(f"the processor's SES statement {st.get('Sid')} reaches beyond this account's identities: {x}")
    return problems


def statements_of(pols):
    return [st for x in pols if isinstance(x, dict) for st in (x.get("Statement") or [])]


def as_list(v):
    return v if isinstance(v, list) else [v]


def object_patterns(resources):
    """The object-key patterns of statement resources: `${X.Arn}/logs/*` → `logs/*`, `*` →
    `*`; a bucket ARN (no key part) gives none."""
    out = []
    for r in as_list(resources):
        s = r["Sub"] if isinstance(r, dict) and "Sub" in r else r
        if s == "*":
            out.append("*")
        elif isinstance(s, str) and "}/" in s:
            out.append(s.split("}/", 1)[1])
        elif isinstance(s, str) and s.startswith("arn:") and "/" in s:
            out.append(s.split("/", 1)[1])
    return out


def may(pols, action, key):
    """Whether a function's inline statements allow `action` on the bucket key `key`."""
    import fnmatch
    for st in statements_of(pols):
        if st.get("Effect") != "Allow":
            continue
        if not any(fnmatch.fnmatchcase(action, a) for a in as_list(st.get("Action"))):
            continue
        if any(fnmatch.fnmatchcase(key, p) for p in object_patterns(st.get("Resource"))):
            return True
    return False


def iam_rules(t, key):
    """The functions' grants are narrow: bucket access by prefix (no SAM S3 templates; the
    submit function reads logs/ only; the processor cannot overwrite or delete builds/), and
    every KMS grant holds only under the sealer's encryption context."""
    problems = []
    res = t["Resources"]
    ctx = kms_context_key()
    if not ctx:
        problems.append("no CONTEXT_KEY found in any kms.rs: the KMS conditions cannot be checked")
    for fn in (k for k, r in res.items() if r["Type"] == "AWS::Serverless::Function"):
        pols = res[fn]["Properties"].get("Policies", [])
        for x in pols:
            if isinstance(x, dict):
                for name in S3_TEMPLATES:
                    if name in x:
                        problems.append(f"{fn} uses {name}: whole-bucket access (grant by prefix instead)")
                for name in KMS_TEMPLATES:
                    if name in x:
                        problems.append(f"{fn} uses {name}: a KMS grant without the encryption context condition")
        for st in statements_of(pols):
            if not any(str(a).startswith("kms:") for a in as_list(st.get("Action"))):
                continue
            cond = st.get("Condition") or {}
            if ctx and (cond.get("Null") or {}).get(f"kms:EncryptionContext:{ctx}") != "false":
                problems.append(f"{fn}'s KMS statement {st.get('Sid')} does not require the encryption context key {ctx}")
            if ctx and (cond.get("ForAllValues:StringEquals") or {}).get("kms:EncryptionContextKeys") != [ctx]:
                problems.append(f"{fn}'s KMS statement {st.get('Sid')} allows context keys other than {ctx}")
    for fn, action, k, allowed in BUCKET_GRANTS:
        pols = res.get(fn, {}).get("Properties", {}).get("Policies", [])
        if may(pols, action, k) != allowed:
            problems.append(f"{fn} {'may not' if allowed else 'may'} {action} {k}")
    return problems


def rust_cap(path, name):
    """The default of a `name: <bytes>` field in a Rust file: `1 << 30`, `512 << 20` or a
    number. None when absent."""
    with open(os.path.join(ROOT, path)) as f:
        m = re.search(rf"\b{name}:\s*([0-9_]+)(?:\s*<<\s*([0-9]+))?\s*,", f.read())
    if not m:
        return None
    return int(m.group(1).replace("_", "")) << int(m.group(2) or 0)


def rust_default(path, name):
    """The default of `env.number("NAME", <n>)` in a Rust file. None when absent."""
    with open(os.path.join(ROOT, path)) as f:
        m = re.search(rf'env\.number\("{name}",\s*([0-9_]+)\)', f.read())
    return int(m.group(1).replace("_", "")) if m else None


def scratch_need_mib(caps):
    """The processor's /tmp budget in MiB (docs/deploy.md, "Processor scratch space"): every
    device a batch works on at once may hold its collected archive, and one render stage at a
    time (the runner's render gate) holds at most two of: the raw archive read back, the
    unpacked coverage files, a build's notes or sources archive, the kept sources, the
    report's files; plus 1 GiB of margin."""
    raw = max(caps["archive_bytes"], caps["max_raw_bytes"])
    unpacked, build = caps["unpack_total_bytes"], caps["max_build_bytes"]
    sources, report = caps["sources_total_bytes"], caps["max_report_bytes"]
    render = max(raw + unpacked, unpacked + build, build + sources, sources + report)
    return (caps["device_concurrency"] * raw + render + (1 << 30)) >> 20


def scratch_caps():
    """The caps scratch_need_mib uses, read from the code."""
    runner = open(os.path.join(ROOT, "shared/coverage/src/runner.rs")).read()
    sources = re.search(r"sources:\s*UnpackLimits\s*\{[^}]*?total_bytes:\s*([0-9_]+)(?:\s*<<\s*([0-9]+))?", runner)
    return {
        "archive_bytes": rust_cap("shared/device/src/target.rs", "archive_bytes"),
        "max_raw_bytes": rust_cap("shared/coverage/src/runner.rs", "max_raw_bytes"),
        "max_build_bytes": rust_cap("shared/coverage/src/runner.rs", "max_build_bytes"),
        "max_report_bytes": rust_cap("shared/coverage/src/runner.rs", "max_report_bytes"),
        "unpack_total_bytes": rust_cap("shared/coverage/src/unpack.rs", "total_bytes"),
        "sources_total_bytes": (int(sources.group(1).replace("_", "")) << int(sources.group(2) or 0)) if sources else None,
        "device_concurrency": rust_default("functions/processor/src/config.rs", "CCAAS_DEVICE_CONCURRENCY"),
    }


# The processor's memory per byte of unpacked archive, measured by bench/session-scale.sh
# (docs/benchmarks.md, "A tmm-sized session"): peak RSS = MEMORY_BASE_MIB + MEMORY_PER_BYTE *
# unpacked bytes (300 units: 11.1 MB -> 55 MiB; 5,000 units: 187.6 MB -> 546 MiB), and the
# headroom kept above it.
MEMORY_BASE_MIB, MEMORY_PER_BYTE, MEMORY_HEADROOM = 24, 2.78, 1.25


def memory_need_mib(caps):
    """The processor's MemorySize in MiB (docs/deploy.md, "Processor memory"): one render
    stage at a time holds the model and the pages of at most the unpack budget's worth of
    coverage files (the raw archive's and a build's published notes together)."""
    peak = MEMORY_BASE_MIB + MEMORY_PER_BYTE * caps["unpack_total_bytes"] / (1 << 20)
    return int(peak * MEMORY_HEADROOM + 63) // 64 * 64


def memory_rules(t):
    """The processor's MemorySize covers memory_need_mib of the caps read from the code."""
    caps = scratch_caps()
    if caps["unpack_total_bytes"] is None:
        return ["cannot read the unpack budget from the code: the memory size cannot be checked"]
    size = (t["Resources"]["ProcessorFunction"]["Properties"].get("MemorySize")
            or t.get("Globals", {}).get("Function", {}).get("MemorySize") or 128)
    need = memory_need_mib(caps)
    if int(size) < need:
        return [f"the processor's MemorySize {size} MB is below {need} MB (unpack budget {caps['unpack_total_bytes']} bytes)"]
    return []


def ephemeral_rules(t):
    """The processor's /tmp holds what scratch_need_mib counts (docs/deploy.md); the device
    concurrency is the code's default unless the template sets CCAAS_DEVICE_CONCURRENCY."""
    caps = scratch_caps()
    env = ((t["Resources"]["ProcessorFunction"]["Properties"].get("Environment") or {}).get("Variables") or {})
    if "CCAAS_DEVICE_CONCURRENCY" in env:
        try:
            caps["device_concurrency"] = int(env["CCAAS_DEVICE_CONCURRENCY"])
        except (TypeError, ValueError):
            return ["CCAAS_DEVICE_CONCURRENCY in the template is not a number: the ephemeral storage cannot be checked"]
    missing = [k for k, v in caps.items() if v is None]
    if missing:
        return [f"cannot read the caps {missing} from the code: the ephemeral storage cannot be checked"]
    need_mib = scratch_need_mib(caps)
    size = ((t["Resources"]["ProcessorFunction"]["Properties"].get("EphemeralStorage") or {}).get("Size")
            or (t.get("Globals", {}).get("Function", {}).get("EphemeralStorage") or {}).get("Size") or 512)
    if int(size) < need_mib:
        return [f"the processor's EphemeralStorage {size} MB is below {need_mib} MB (caps {caps})"]
    if int(size) > 10240:
        return [f"the processor's EphemeralStorage {size} MB is over Lambda's 10240 MB"]
    return []


def refers_to(v, logical):
    """Whether a value (as written or translated) contains a Ref or GetAtt of the logical id."""
    if isinstance(v, dict):
        if v.get("Ref") == logical or (isinstance(v.get("Fn::GetAtt"), list) and v["Fn::GetAtt"][0] == logical):
            return True
        if ref_target(v) == logical:
            return True
        return any(refers_to(x, logical) for x in v.values())
    if isinstance(v, list):
        return any(refers_to(x, logical) for x in v)
    return False


def samconfig_rules():
    """samconfig.toml deploys the stack the docs name, with the settings they promise."""
    import tomllib
    with open(os.path.join(ROOT, "samconfig.toml"), "rb") as f:
        c = tomllib.load(f)["default"]
    d = c.get("deploy", {}).get("parameters", {})
    want = {"capabilities": "CAPABILITY_IAM", "resolve_s3": True, "confirm_changeset": True}
    problems = [f"samconfig.toml: deploy {k} is {d.get(k)!r}, not {v!r}" for k, v in want.items() if d.get(k) != v]
    if c.get("global", {}).get("parameters", {}).get("stack_name") != "ccaas":
        problems.append("samconfig.toml: the stack name is not ccaas")
    return problems


def mutations():
    """One-sided changes to the template that the checks must report."""
    def at(*path):
        def get(t):
            for p in path:
                t = t[p]
            return t
        return get

    res = at("Resources")
    return [
        ("table name", lambda t: res(t)["TasksTable"]["Properties"].__setitem__("TableName", {"Sub": "${Prefix}-task"})),
        ("GSI name", lambda t: res(t)["TasksTable"]["Properties"]["GlobalSecondaryIndexes"][0].__setitem__("IndexName", "by-type")),
        ("TTL attribute", lambda t: res(t)["TasksTable"]["Properties"]["TimeToLiveSpecification"].__setitem__("AttributeName", "ttl")),
        ("PITR off", lambda t: res(t)["DevicesTable"]["Properties"].pop("PointInTimeRecoverySpecification")),
        ("queue SSE off", lambda t: res(t)["TaskQueue"]["Properties"].pop("SqsManagedSseEnabled")),
        ("maxReceiveCount", lambda t: res(t)["HighTaskQueue"]["Properties"]["RedrivePolicy"].__setitem__("maxReceiveCount", 3)),
        ("retry window past the receives", lambda t: t["Parameters"]["RetryWindowSecs"].__setitem__("MaxValue", 90000)),
        ("visibility timeout", lambda t: res(t)["TaskQueue"]["Properties"].__setitem__("VisibilityTimeout", 5000)),
        ("processor timeout", lambda t: res(t)["ProcessorFunction"]["Properties"].__setitem__("Timeout", 900)),
        ("env var name", lambda t: t["Globals"]["Function"]["Environment"]["Variables"].__setitem__(
            "CCAAS_QUEUE", t["Globals"]["Function"]["Environment"]["Variables"].pop("CCAAS_QUEUE_URL"))),
        ("website error document", lambda t: res(t)["SiteBucket"]["Properties"]["WebsiteConfiguration"].__setitem__("ErrorDocument", "404.html")),
        ("lifecycle days", lambda t: t["Parameters"]["RawExpirationDays"].__setitem__("Default", 7)),
        ("lifecycle prefix", lambda t: res(t)["SiteBucket"]["Properties"]["LifecycleConfiguration"]["Rules"][1].__setitem__("Prefix", "log/")),
        ("public key", lambda t: res(t)["SiteBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Resource"].append({"Sub": "${SiteBucket.Arn}/raw/*"})),
        ("public ListBucket", lambda t: res(t)["SiteBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0].__setitem__("Action", ["s3:GetObject", "s3:ListBucket"])),
        ("batch item failures", lambda t: res(t)["ProcessorFunction"]["Properties"]["Events"]["High"]["Properties"].pop("FunctionResponseTypes")),
        ("maximum concurrency", lambda t: res(t)["ProcessorFunction"]["Properties"]["Events"]["Normal"]["Properties"].pop("ScalingConfig")),
        ("DLQ alarm", lambda t: res(t).pop("HighDeadLetterAlarm")),
        ("failure-rate alarm", lambda t: res(t).pop("FailureRateAlarm")),
        ("queue-wait alarm on another metric", lambda t: res(t)["QueueWaitAlarm"]["Properties"]["Metrics"][0]["MetricStat"]["Metric"].__setitem__(
            "MetricName", "TaskDurationMs")),
        ("a metric left off the dashboard", lambda t: res(t)["Dashboard"]["Properties"].__setitem__(
            "DashboardBody", {"Sub": res(t)["Dashboard"]["Properties"]["DashboardBody"]["Sub"].replace('"ReportLines"', '"Lines"')})),
        ("Datadog layer on every deploy", lambda t: t["Globals"]["Function"].__setitem__("Layers", ["arn:aws:lambda:us-east-1:464622532012:layer:Datadog-Extension:65"])),
        ("Datadog variable on every deploy", lambda t: t["Globals"]["Function"]["Environment"]["Variables"].__setitem__("DD_SITE", "datadoghq.com")),
        ("throttle alarm", lambda t: res(t).pop("ProcessorThrottlesAlarm")),
        ("env var typo", lambda t: res(t)["SubmitFunction"]["Properties"]["Environment"]["Variables"].__setitem__(
            "CCAAS_AUTH_CLAIM", res(t)["SubmitFunction"]["Properties"]["Environment"]["Variables"].pop("CCAAS_AUTH_USER_CLAIM"))),
        ("site URL output", lambda t: t["Outputs"].pop("SiteUrl")),
        ("canary alarms", lambda t: res(t)["SubmitFunction"]["Properties"]["DeploymentPreference"].pop("Alarms")),
        ("key rotation off", lambda t: res(t)["QueueKey"]["Properties"].__setitem__("EnableKeyRotation", False)),
        ("key alias name", lambda t: res(t)["QueueKeyAlias"]["Properties"].__setitem__("AliasName", {"Sub": "alias/${Prefix}-tasks"})),
        ("key alias missing", lambda t: res(t).pop("QueueKeyAlias")),
        ("key env var missing", lambda t: t["Globals"]["Function"]["Environment"]["Variables"].pop("CCAAS_KMS_KEY")),
        ("key env var overridden", lambda t: res(t)["ProcessorFunction"]["Properties"]["Environment"]["Variables"].__setitem__(
            "CCAAS_KMS_KEY", "alias/aws/sqs")),
        ("second key", lambda t: res(t).__setitem__("OtherKey", copy.deepcopy(res(t)["QueueKey"]))),
        ("asymmetric key", lambda t: res(t)["QueueKey"]["Properties"].__setitem__("KeySpec", "RSA_2048")),
        ("key policy without root", lambda t: res(t)["QueueKey"]["Properties"]["KeyPolicy"]["Statement"][0].__setitem__(
            "Principal", {"Service": "lambda.amazonaws.com"})),
        ("processor cannot shorten retries", lambda t: res(t)["ProcessorFunction"]["Properties"]["Policies"].remove(
            next(x for x in res(t)["ProcessorFunction"]["Properties"]["Policies"]
                 if "Statement" in x and x["Statement"][0].get("Sid") == "RetryDelay"))),
        ("submit cannot make data keys", lambda t: res(t)["SubmitFunction"]["Properties"]["Policies"].pop(
            policy_index(t, "SubmitFunction", "SealTaskMessages"))),
        ("submit may only Encrypt", lambda t: res(t)["SubmitFunction"]["Properties"]["Policies"].__setitem__(
            policy_index(t, "SubmitFunction", "SealTaskMessages"),
            {"KMSEncryptPolicy": {"KeyId": {"Ref": "QueueKey"}}})),
        ("processor cannot decrypt", lambda t: res(t)["ProcessorFunction"]["Properties"]["Policies"].__setitem__(
            policy_index(t, "ProcessorFunction", "OpenTaskMessages"), {"KMSEncryptPolicy": {"KeyId": {"Ref": "QueueKey"}}})),
        # The report site, private by default.
        ("site public by default", lambda t: t["Parameters"]["SitePublic"].__setitem__("Default", "true")),
        ("site policy unconditional", lambda t: res(t)["SiteBucketPolicy"].pop("Condition")),
        ("public policies allowed while private", lambda t: res(t)["SiteBucket"]["Properties"]["PublicAccessBlockConfiguration"].__setitem__(
            "BlockPublicPolicy", False)),
        ("site policy blocked once opened", lambda t: res(t)["SiteBucket"]["Properties"]["PublicAccessBlockConfiguration"].__setitem__(
            "RestrictPublicBuckets", True)),
        ("CIDRs ignored", lambda t: res(t)["SiteBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0].__setitem__(
            "Condition", {"Ref": "AWS::NoValue"})),
        # Narrow IAM.
        ("submit reads the whole bucket", lambda t: res(t)["SubmitFunction"]["Properties"]["Policies"].append(
            {"S3ReadPolicy": {"BucketName": {"Ref": "SiteBucket"}}})),
        ("submit reads raw/", lambda t: statement(t, "SubmitFunction", "ReadTaskLogs").__setitem__(
            "Resource", [{"Sub": "${SiteBucket.Arn}/logs/*"}, {"Sub": "${SiteBucket.Arn}/raw/*"}])),
        ("submit reads every object", lambda t: statement(t, "SubmitFunction", "ReadTaskLogs").__setitem__(
            "Resource", {"Sub": "${SiteBucket.Arn}/*"})),
        ("processor S3CrudPolicy", lambda t: res(t)["ProcessorFunction"]["Properties"]["Policies"].append(
            {"S3CrudPolicy": {"BucketName": {"Ref": "SiteBucket"}}})),
        ("processor may delete builds/", lambda t: statement(t, "ProcessorFunction", "DeleteReportRecords").__setitem__(
            "Resource", {"Sub": "${SiteBucket.Arn}/*"})),
        ("processor may overwrite builds/", lambda t: statement(t, "ProcessorFunction", "OwnPrefixes")["Resource"].append(
            {"Sub": "${SiteBucket.Arn}/builds/*"})),
        ("processor s3:* on the bucket", lambda t: statement(t, "ProcessorFunction", "ReadBuilds").__setitem__("Action", "s3:*")),
        ("decrypt without the encryption context", lambda t: statement(t, "ProcessorFunction", "OpenTaskMessages").pop("Condition")),
        ("data keys with other context keys", lambda t: statement(t, "SubmitFunction", "SealTaskMessages")["Condition"].pop(
            "ForAllValues:StringEquals")),
        ("processor KMSDecryptPolicy again", lambda t: res(t)["ProcessorFunction"]["Properties"]["Policies"].__setitem__(
            policy_index(t, "ProcessorFunction", "OpenTaskMessages"), {"KMSDecryptPolicy": {"KeyId": {"Ref": "QueueKey"}}})),
        # Devices: the allow-list, the host-key policy, admins and the pin grant.
        ("host keys trusted on first use by default", lambda t: t["Parameters"]["HostKeyPolicy"].__setitem__("Default", "tofu")),
        ("a host-key policy the driver does not parse", lambda t: t["Parameters"]["HostKeyPolicy"]["AllowedValues"].append("any")),
        ("host-key policy not passed", lambda t: res(t)["ProcessorFunction"]["Properties"]["Environment"]["Variables"].pop(
            "CCAAS_HOST_KEY_POLICY")),
        ("allow-list not passed", lambda t: t["Globals"]["Function"]["Environment"]["Variables"].pop("CCAAS_DEVICE_ALLOW")),
        ("processor without the allow-list", lambda t: res(t)["ProcessorFunction"]["Properties"]["Environment"]["Variables"].__setitem__(
            "CCAAS_DEVICE_ALLOW", "")),
        ("allow-list with a default", lambda t: t["Parameters"]["DeviceAllow"].__setitem__("Default", "0.0.0.0/0")),
        ("admins not passed", lambda t: res(t)["SubmitFunction"]["Properties"]["Environment"]["Variables"].pop("CCAAS_ADMIN_USERS")),
        ("submit may write sessions", lambda t: statement(t, "SubmitFunction", "DropHostKeyPins").pop("Condition")),
        ("submit may delete device items", lambda t: statement(t, "SubmitFunction", "DropHostKeyPins").__setitem__(
            "Action", ["dynamodb:UpdateItem", "dynamodb:DeleteItem"])),
        ("submit CRUD on devices", lambda t: res(t)["SubmitFunction"]["Properties"]["Policies"].append(
            {"DynamoDBCrudPolicy": {"TableName": {"Ref": "DevicesTable"}}})),
        ("submit cannot drop pins", lambda t: res(t)["SubmitFunction"]["Properties"]["Policies"].remove(
            next(x for x in res(t)["SubmitFunction"]["Properties"]["Policies"]
                 if isinstance(x, dict) and any(st.get("Sid") == "DropHostKeyPins" for st in x.get("Statement") or [])))),
        ("submit may delete usage counters", lambda t: statement(t, "SubmitFunction", "UsageHistory").__setitem__(
            "Action", ["dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:DeleteItem"])),
        ("the processor cannot count", lambda t: statement(t, "ProcessorFunction", "UsageHistory").__setitem__(
            "Action", ["dynamodb:PutItem"])),
        ("usage table without a range key", lambda t: res(t)["UsageTable"]["Properties"]["KeySchema"].pop()),
        # Scratch space for the caps.
        ("default ephemeral storage", lambda t: res(t)["ProcessorFunction"]["Properties"].pop("EphemeralStorage")),
        ("ephemeral storage below the caps", lambda t: res(t)["ProcessorFunction"]["Properties"]["EphemeralStorage"].__setitem__(
            "Size", scratch_need_mib(scratch_caps()) - 1)),
        ("memory below the measured rule", lambda t: res(t)["ProcessorFunction"]["Properties"].__setitem__(
            "MemorySize", memory_need_mib(scratch_caps()) - 64)),
        # Email notices.
        ("mail sender not passed", lambda t: t["Globals"]["Function"]["Environment"]["Variables"].pop("CCAAS_MAIL_FROM")),
        ("mail on by default", lambda t: t["Parameters"]["MailFrom"].__setitem__("Default", "ccaas@example.com")),
        ("any sender", lambda t: mail_grant(t).pop("Condition")),
        ("any SES action", lambda t: mail_grant(t).__setitem__("Action", "ses:*")),
        ("any account's identities", lambda t: mail_grant(t).__setitem__("Resource", "*")),
        ("SES without MailFrom", lambda t: mail_policy(t).__setitem__("If", ["AuthOn", *mail_policy(t)["If"][1:]])),
        ("submit may send mail", lambda t: res(t)["SubmitFunction"]["Properties"]["Policies"].append(
            {"Statement": [{"Sid": "Mail", "Effect": "Allow", "Action": "ses:SendEmail", "Resource": "*"}]})),
        # Search.
        ("index/ public", lambda t: res(t)["SiteBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Resource"].append(
            {"Sub": "${SiteBucket.Arn}/index/*"})),
        ("everything public", lambda t: res(t)["SiteBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Resource"].append(
            {"Sub": "${SiteBucket.Arn}/*"})),
        ("no tasks stream", lambda t: res(t)["TasksTable"]["Properties"].pop("StreamSpecification")),
        ("a stream with SearchBackend=none", lambda t: res(t)["TasksTable"]["Properties"].__setitem__(
            "StreamSpecification", {"StreamViewType": "NEW_IMAGE"})),
        ("search off by default", lambda t: t["Parameters"]["SearchBackend"].__setitem__("Default", "none")),
        ("a backend the submit config does not parse", lambda t: t["Parameters"]["SearchBackend"]["AllowedValues"].append("solr")),
        ("CCAAS_SEARCH not passed", lambda t: res(t)["SubmitFunction"]["Properties"]["Environment"]["Variables"].pop("CCAAS_SEARCH")),
        ("indexer without CCAAS_SEARCH", lambda t: res(t)["IndexerFunction"]["Properties"]["Environment"]["Variables"].pop("CCAAS_SEARCH")),
        ("OpenSearch endpoint not passed", lambda t: res(t)["SubmitFunction"]["Properties"]["Environment"]["Variables"].pop("CCAAS_OPENSEARCH_ENDPOINT")),
        ("OpenSearch permissions whatever the backend", lambda t: res(t)["IndexerFunction"]["Properties"]["Policies"].append(
            {"Statement": [{"Effect": "Allow", "Action": ["aoss:APIAccessAll"], "Resource": "*"}]})),
        ("the submit function writes OpenSearch", lambda t: res(t)["SubmitFunction"]["Properties"]["Policies"][-1]["If"][1]["Statement"][0]["Action"].append("es:ESHttpPut")),
        ("SearchOpenSearch on tantivy", lambda t: t["Conditions"].__setitem__("SearchOpenSearch", {"Equals": [{"Ref": "SearchBackend"}, "tantivy"]})),
        ("indexer with SearchBackend=none", lambda t: res(t)["IndexerFunction"].pop("Condition")),
        ("indexer failure queue with SearchBackend=none", lambda t: res(t)["IndexerFailureQueue"].pop("Condition")),
        ("indexer errors alarm left out with SearchBackend=none", lambda t: res(t)["IndexerErrorsAlarm"].__setitem__("Condition", "SearchIndexed")),
        ("two writers", lambda t: res(t)["IndexerFunction"]["Properties"].__setitem__("ReservedConcurrentExecutions", 2)),
        ("parallel batches", lambda t: indexer_event(t).__setitem__("ParallelizationFactor", 2)),
        ("no bisection", lambda t: indexer_event(t).pop("BisectBatchOnFunctionError")),
        ("endless retries", lambda t: indexer_event(t).pop("MaximumRetryAttempts")),
        ("no on-failure destination", lambda t: indexer_event(t).pop("DestinationConfig")),
        ("batch of 10", lambda t: indexer_event(t).__setitem__("BatchSize", 10)),
        ("indexer on the devices table", lambda t: indexer_event(t).__setitem__("Stream", {"GetAtt": "DevicesTable.StreamArn"})),
        ("indexer writes tasks", lambda t: statement(t, "IndexerFunction", "ReadTasks").__setitem__(
            "Action", ["dynamodb:GetItem", "dynamodb:PutItem"])),
        ("indexer CRUD on tasks", lambda t: res(t)["IndexerFunction"]["Properties"]["Policies"].append(
            {"DynamoDBCrudPolicy": {"TableName": {"Ref": "TasksTable"}}})),
        ("indexer writes all of index/", lambda t: statement(t, "IndexerFunction", "WriteSearchIndex").__setitem__(
            "Resource", {"Sub": "${SiteBucket.Arn}/index/*"})),
        ("indexer cannot delete old segments", lambda t: statement(t, "IndexerFunction", "WriteSearchIndex").__setitem__(
            "Action", ["s3:GetObject", "s3:PutObject"])),
        ("submit writes the search index", lambda t: statement(t, "SubmitFunction", "ReadCoverageIndexes").__setitem__(
            "Action", ["s3:GetObject", "s3:PutObject"])),
        ("more devices at once than the scratch space holds", lambda t: res(t)["ProcessorFunction"]["Properties"]["Environment"]["Variables"].__setitem__(
            "CCAAS_DEVICE_CONCURRENCY", "64")),
    ]


def indexer_event(t):
    """The properties of the indexer's (one) stream event."""
    return next(iter(t["Resources"]["IndexerFunction"]["Properties"]["Events"].values()))["Properties"]


def mail_policy(t):
    """The processor's policy that grants SES (an `If`)."""
    return next(p for p in t["Resources"]["ProcessorFunction"]["Properties"]["Policies"]
                if isinstance(p, dict) and "If" in p and "Statement" in (p["If"][1] or {})
                and any(st.get("Sid") == "SendNotices" for st in p["If"][1]["Statement"]))


def mail_grant(t):
    """The processor's SendNotices statement."""
    return next(st for st in mail_policy(t)["If"][1]["Statement"] if st.get("Sid") == "SendNotices")


def statement(t, fn, sid):
    """The inline statement `sid` of function `fn`'s policies."""
    return next(st for st in statements_of(t["Resources"][fn]["Properties"]["Policies"]) if st.get("Sid") == sid)


def policy_index(t, fn, sid):
    """The index, in `fn`'s Policies, of the policy holding statement `sid`."""
    pols = t["Resources"][fn]["Properties"]["Policies"]
    return next(i for i, x in enumerate(pols) if isinstance(x, dict) and any(st.get("Sid") == sid for st in x.get("Statement") or []))


def resource_mutations():
    """One-sided changes to resources.json that the checks must report."""
    return [
        ("key rotation off", lambda r: r["key"].__setitem__("rotation", False)),
        ("key alias", lambda r: r["key"].__setitem__("alias", "alias/ccaas-queues")),
        ("key env var", lambda r: r["key"].__setitem__("env", "CCAAS_KEY")),
        ("key missing", lambda r: r.pop("key")),
        ("mail env var", lambda r: r["mail"].__setitem__("env", "CCAAS_MAIL_SENDER")),
        ("no tasks stream", lambda r: r["tables"][0].__setitem__("stream", None)),
        ("index/ public", lambda r: r["bucket"]["public_keys"].append("index/*")),
    ]


def private_index_rules(r):
    """resources.json (what localstack/up makes public) never makes index/ public."""
    import fnmatch
    return [f"resources.json makes {key} public" for key in PRIVATE_INDEX_KEYS
            if any(fnmatch.fnmatchcase(key, k) for k in r["bucket"]["public_keys"])]


def problems_of(t, res):
    return (diff("template.yaml", from_template(t), "resources.json", from_resources(res))
            + template_rules(t) + mail_rules(t, res) + private_index_rules(res))


def main():
    t, res = load_template(), load_resources()
    problems = problems_of(t, res) + samconfig_rules()
    if not problems:
        # The checks must be able to fail: each one-sided change must be reported.
        missed = []
        for label, change in mutations():
            m = copy.deepcopy(t)
            change(m)
            if not problems_of(m, res):
                missed.append(label)
        missed_res = []
        for label, change in resource_mutations():
            m = copy.deepcopy(res)
            change(m)
            if not problems_of(t, m):
                missed_res.append(label)
        if missed:
            problems.append(f"self-check: these one-sided template changes went unnoticed: {missed}")
        if missed_res:
            problems.append(f"self-check: these one-sided resources.json changes went unnoticed: {missed_res}")
        if not missed and not missed_res:
            print(f"self-check ok: {len(mutations())} one-sided template changes and "
                  f"{len(resource_mutations())} resources.json changes are each reported")
    if "--no-emulator" not in sys.argv:
        expected = from_resources(res)
        problems += diff("resources.json", expected, "emulator", from_emulator(expected))
        # The emulator side can fail too: an alias it lacks must be reported, not assumed.
        key = expected[3]
        if key:
            absent = dict(key, aliases=[key["aliases"][0] + "-absent"])
            if key_of_emulator(client("kms"), absent) == absent:
                problems.append("self-check: a key alias the emulator lacks went unnoticed")
            else:
                print("self-check ok: a key alias the emulator lacks is reported")
        mail = res.get("mail")
        if mail:
            verified = client("ses").list_identities(IdentityType="EmailAddress")["Identities"]
            if mail["from"] not in verified:
                problems.append(f"emulator: the mail sender {mail['from']} is not a verified SES identity")

    if problems:
        print("\n".join(problems))
        sys.exit(1)
    tr, qr, _, key = from_resources(res)
    print(f"parity ok: {len(tr)} tables, {len(qr)} queues, 1 bucket, {1 if key else 0} key agree across template, resources.json"
          + ("" if "--no-emulator" in sys.argv else " and the emulator"))


if __name__ == "__main__":
    main()
